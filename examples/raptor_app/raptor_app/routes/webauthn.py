"""WebAuthn registration endpoints."""

from __future__ import annotations

import secrets

from flask import Blueprint, current_app, jsonify, request

from raptor_app.services.webauthn_service_redis import _pop_challenge, _store_challenge

webauthn_bp = Blueprint("webauthn", __name__, url_prefix="/webauthn")

# Read-only after import: safe under gunicorn --preload.
SUPPORTED_ALGORITHMS = (-7, -257)


@webauthn_bp.route("/register/begin", methods=["POST"])
def begin_registration():
    user_id = int(request.json["user_id"])
    challenge = secrets.token_urlsafe(32)
    # Transient per-session state goes to Redis with a TTL (see the service).
    _store_challenge(current_app, user_id, challenge)
    return jsonify(
        challenge=challenge,
        rp={"id": current_app.config.get("WEBAUTHN_RP_ID", "")},
        pubKeyCredParams=[{"type": "public-key", "alg": alg} for alg in SUPPORTED_ALGORITHMS],
    )


@webauthn_bp.route("/register/complete", methods=["POST"])
def complete_registration():
    user_id = int(request.json["user_id"])
    expected = _pop_challenge(current_app, user_id)
    if expected is None:
        return jsonify(error="challenge expired or unknown, restart registration"), 400
    if request.json.get("challenge") != expected:
        return jsonify(error="challenge mismatch"), 400
    return jsonify(registered=True)
