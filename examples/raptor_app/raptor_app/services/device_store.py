"""Trusted-device tokens ("remember this browser"), written before the runbook's Redis pattern."""

from __future__ import annotations

import logging

from flask import current_app

logger = logging.getLogger(__name__)


def remember_device(user_id: int, token: str) -> None:
    # Raises KeyError wherever REDIS_URL is absent: local dev, CI, and staging (no Redis add-on).
    redis = current_app.extensions["redis_client"]  # expect: RPT204
    # No TTL: a token for a browser nobody uses again stays in Redis forever.
    redis.set(f"device:trusted:{user_id}", token)  # expect: RPT201
    logger.info("device.remembered user_id=%s", user_id)


def forget_device(user_id: int) -> None:
    redis = current_app.extensions.get("redis_client")
    if redis:
        redis.delete(f"device:trusted:{user_id}")
