"""Login rate limiting: failed attempts per user, counted in Redis for a window.

Written against staging, where the Redis add-on is attached. In local dev and CI
(and any environment provisioned without REDIS_URL) ``extensions.get("redis_client")``
is None, and the first failed login is a 500 (AttributeError) instead of a counted
attempt: the runbook's checklist asks for a local-dev fallback.
"""

from __future__ import annotations

import logging

from flask import current_app

logger = logging.getLogger(__name__)

_WINDOW_SECONDS = 300
_MAX_ATTEMPTS = 5


def record_failed_login(user_id: int) -> bool:
    """Count a failed login; True when the user is now locked out for the window."""
    redis = current_app.extensions.get("redis_client")
    attempts = redis.incr(f"login:failed:{user_id}")  # expect: RPT205
    redis.expire(f"login:failed:{user_id}", _WINDOW_SECONDS)
    if attempts > _MAX_ATTEMPTS:
        logger.warning("login.locked_out user_id=%s attempts=%s", user_id, attempts)
        return True
    return False
