"""Beta preview walkthrough (PR #3540): POST /screen/<n> records how far the user got.

The unit tests run on in-memory SQLite, which accepts the scalar two-argument
MAX below; Postgres rejects it ("function max(integer, integer) does not
exist") and POST /screen/1 returned 500 in production on 2026-06-12.
"""

from flask import Blueprint, current_app, g, jsonify
from sqlalchemy import text

beta_preview_bp = Blueprint("beta_preview", __name__, url_prefix="/beta-preview")

FURTHEST_SCREEN = "SELECT MAX(screen) FROM beta_preview_progress"


def _get_conn():
    return current_app.extensions["db_engine"].connect()


@beta_preview_bp.post("/screen/<int:screen>")
def advance_screen(screen: int):
    with _get_conn() as conn:
        conn.execute(
            text("UPDATE beta_preview_progress SET screen = MAX(screen, :screen) WHERE user_id = :uid"),  # expect: RPT401
            {"screen": screen, "uid": g.user_id},
        )
        conn.commit()
    return jsonify({"screen": screen})


@beta_preview_bp.get("/furthest")
def furthest():
    # One-argument MAX is the portable aggregate: not a finding.
    with _get_conn() as conn:
        value = conn.execute(text(FURTHEST_SCREEN)).scalar()
    return jsonify({"furthest": value or 0})
