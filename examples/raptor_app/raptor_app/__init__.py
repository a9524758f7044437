"""The app factory: gunicorn --preload imports this module once in the master."""

from __future__ import annotations

import os

from flask import Flask

from raptor_app.routes.beta_digest import beta_digest_bp
from raptor_app.routes.trading import trading_bp
from raptor_app.routes.webauthn import webauthn_bp

_core_blueprints = [webauthn_bp, trading_bp, beta_digest_bp]


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "dev")

    for bp in _core_blueprints:
        prefixed_url = f"/api{bp.url_prefix}" if bp.url_prefix else "/api"
        app.register_blueprint(bp, url_prefix=prefixed_url)
    return app
