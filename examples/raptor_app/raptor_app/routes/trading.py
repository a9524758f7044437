"""Trading-mode endpoints.

Reproduces the PR #3030 regression: a process-global dict keyed on user id,
mutated per request. Under gunicorn --preload each worker mutated its own copy,
so a user's mode depended on which worker served the request.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, request

trading_bp = Blueprint("trading", __name__, url_prefix="/trading")

TRADING_MODES = ("paper", "live")  # read-only: fine

# PR #3030: per-user state in a module-level dict (belongs in a Postgres row).
trading_mode_override: dict[int, str] = {}


@trading_bp.route("/mode", methods=["GET"])
def get_trading_mode():
    user_id = int(request.headers["X-User-Id"])
    return jsonify(mode=trading_mode_override.get(user_id, "paper"))


@trading_bp.route("/mode", methods=["PUT"])
def set_trading_mode():
    user_id = int(request.headers["X-User-Id"])
    mode = request.json["mode"]
    if mode not in TRADING_MODES:
        return jsonify(error=f"mode must be one of {TRADING_MODES}"), 400
    trading_mode_override[user_id] = mode  # expect: RPT101
    return jsonify(mode=mode)


@trading_bp.route("/mode", methods=["DELETE"])
def reset_trading_mode():
    user_id = int(request.headers["X-User-Id"])
    trading_mode_override.pop(user_id, None)  # expect: RPT101
    return "", 204


@trading_bp.route("/mode/history", methods=["POST"])
def record_mode_change():
    # The same bug moved into app.extensions: still one copy per worker.
    history = current_app.extensions.setdefault("trading_mode_history", {})  # expect: RPT103
    history.setdefault(int(request.headers["X-User-Id"]), []).append(request.json["mode"])
    return "", 204
