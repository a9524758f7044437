"""The app factory: gunicorn --preload imports this module once in the master."""

from __future__ import annotations

import os

from flask import Flask

from raptor_app.routes.beta_digest import beta_digest_bp, beta_survey_bp
from raptor_app.routes.trading import trading_bp
from raptor_app.routes.webauthn import webauthn_bp

_core_blueprints = [webauthn_bp, trading_bp, beta_digest_bp, beta_survey_bp]


def _env_flag(name: str) -> bool:
    """Feature flags are environment variables set to "1" (docs/ops/runbook.md)."""
    return os.environ.get(name, "0") == "1"


def create_app() -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    # Pinned before the instance config is read: an instance/raptor.cfg copied from a template
    # (WEBAUTHN_ORIGIN = "") overwrites it — the 2026-05-20 staging boot failure.
    app.config["WEBAUTHN_ORIGIN"] = os.environ.get("WEBAUTHN_ORIGIN", "")  # expect: RPT505
    app.config.from_pyfile("raptor.cfg", silent=True)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "dev")
    # Seeded by migrations/versions/20260613_3558_feature_flags.py, on the runbook checklist.
    app.config["FLAG_WEBAUTHN_REGISTRATION"] = _env_flag("FLAG_WEBAUTHN_REGISTRATION")
    # Shipped without its migration and without its checklist line (PR #3556).
    app.config["FLAG_BETA_DIGEST"] = _env_flag("FLAG_BETA_DIGEST")  # expect: RPT501,RPT502

    for bp in _core_blueprints:
        prefixed_url = f"/api{bp.url_prefix}" if bp.url_prefix else "/api"
        app.register_blueprint(bp, url_prefix=prefixed_url)
    return app
