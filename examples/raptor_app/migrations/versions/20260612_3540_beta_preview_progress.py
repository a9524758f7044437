"""beta_preview_progress table and its backfill (PR #3540).

Revision ID: 3540a1c0ffee
Revises:
Create Date: 2026-06-12 09:14:00
"""

import sqlalchemy as sa
from alembic import op

revision = "3540a1c0ffee"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "beta_preview_progress",
        sa.Column("user_id", sa.Integer(), primary_key=True),
        sa.Column("screen", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime(), server_default="now()"),  # expect: RPT404
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Guarded and marked: how the runbook wants PL/pgSQL.
        op.execute("""
            -- POSTGRES-ONLY
            DO $$ BEGIN
                CREATE INDEX IF NOT EXISTS ix_beta_preview_screen ON beta_preview_progress (screen);
            END $$;
        """)
    # Unguarded and unmarked: the SQLite test database rejects it.
    # expect-next-line: RPT403
    op.execute("""
        DO $$ BEGIN
            UPDATE beta_preview_progress SET screen = 1 WHERE screen = 0;
        END $$;
    """)


def downgrade() -> None:
    op.drop_table("beta_preview_progress")
