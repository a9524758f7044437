"""WebAuthn registration endpoints."""

from flask import Blueprint

webauthn_bp = Blueprint("webauthn", __name__, url_prefix="/webauthn")
