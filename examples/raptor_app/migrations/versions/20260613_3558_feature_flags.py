"""feature_flags table, seeded with the flags create_app() reads.

The runbook's maintenance rule: a flag-gated subsystem added to create_app()
ships with its migration in the same PR.

Revision ID: 3558f1a95eed
Revises: 3540a1c0ffee
Create Date: 2026-06-13 10:02:00
"""

import sqlalchemy as sa
from alembic import op

revision = "3558f1a95eed"
down_revision = "3540a1c0ffee"
branch_labels = None
depends_on = None


def upgrade() -> None:
    flags = op.create_table(
        "feature_flags",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.bulk_insert(flags, [{"key": "webauthn_registration", "enabled": False}])


def downgrade() -> None:
    op.drop_table("feature_flags")
