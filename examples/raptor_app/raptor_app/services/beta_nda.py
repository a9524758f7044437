"""Beta NDA acknowledgements (PR #3454, 2026-06-10).

beta_nda_ack was created by a migration of the Console service only: the
SQLite unit tests build their own schema and passed, and Raptor's Postgres had
no such table. feature_flags is created by this service's own migration.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import text


def record_nda_ack(user_id: int) -> None:
    with current_app.extensions["db_engine"].begin() as conn:
        conn.execute(
            text("INSERT INTO beta_nda_ack (user_id, acked_at) VALUES (:uid, CURRENT_TIMESTAMP)"),  # expect: RPT504
            {"uid": user_id},
        )


def beta_flag_enabled(key: str) -> bool:
    with current_app.extensions["db_engine"].connect() as conn:
        row = conn.execute(
            text("SELECT enabled FROM feature_flags WHERE key = :key"), {"key": key}
        ).fetchone()
    return bool(row and row[0])
