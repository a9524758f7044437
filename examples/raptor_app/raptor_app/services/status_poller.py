"""Status 3P poller (FLAG_STATUS_3P_POLLER): posts partner status to the CF Worker.

The worker URL is read at call time. It was never added to
docs/ops/required-config-vars.yaml, so a new environment provisioned from the
manifest runs the poller against nothing (it logs an error and no-ops).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def worker_url() -> str | None:
    url = os.environ.get("STATUS_WORKER_URL")  # expect: RPT503
    if not url:
        logger.error("status_poller.worker_url_missing")
    return url


def redis_url() -> str | None:
    # Declared in the manifest: not a finding.
    return os.environ.get("REDIS_URL")
