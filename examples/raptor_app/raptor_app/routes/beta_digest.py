"""Beta digest survey endpoints (PR #3556)."""

from flask import Blueprint

from raptor_app.settings import BETA_DIGEST_PREFIX

beta_digest_bp = Blueprint("beta_digest", __name__, url_prefix=BETA_DIGEST_PREFIX)
