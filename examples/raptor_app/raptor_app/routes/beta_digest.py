"""Beta digest survey endpoints (PR #3556).

Both prefixes were copied from the Console service, where nothing adds /api for
you; the core registration loop in raptor_app/__init__.py adds it again, so the
routes were served at /api/api/internal/... and every call from Console fell
through to the static catch-all: 404 "React build not found" (2026-06-13).
"""

from flask import Blueprint, jsonify, request

from raptor_app.settings import BETA_DIGEST_PREFIX

beta_digest_bp = Blueprint("beta_digest", __name__, url_prefix=BETA_DIGEST_PREFIX)  # expect: RPT301
beta_survey_bp = Blueprint(
    "internal_beta_survey", __name__, url_prefix="/api/internal/beta-survey-data"  # expect: RPT301
)


@beta_digest_bp.post("/send")
def send_digest():
    return jsonify(queued=True)


@beta_survey_bp.get("/api/responses")  # expect: RPT302
def survey_responses():
    return jsonify(responses=[], cohort=request.args.get("cohort", "beta"))
