"""Safe refresh: per-integration review settings and the tool changes held for review.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Integrations added before this revision keep today's behaviour: refresh applies changes.
    op.add_column(
        "integrations",
        sa.Column("review_changes", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "integrations",
        sa.Column("review_mode", sa.String(16), nullable=False, server_default="serve_reviewed"),
    )
    op.create_table(
        "tool_reviews",
        sa.Column(
            "integration_id",
            sa.String(32),
            sa.ForeignKey("integrations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        # The definition a person last reviewed (NULL for an added tool), kept here so it can
        # go on serving, or come back on reject, whatever the tools table holds meanwhile.
        sa.Column("reviewed", sa.Text, nullable=True),
        sa.Column("proposed", sa.Text, nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("tool_reviews")
    # Plain ALTER TABLE DROP COLUMN (SQLite >= 3.35): a batch rebuild of integrations would
    # cascade-delete every tool and connection on SQLite.
    op.drop_column("integrations", "review_mode")
    op.drop_column("integrations", "review_changes")
