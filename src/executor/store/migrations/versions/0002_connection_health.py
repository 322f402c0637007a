"""Connection health (status, last error, when it was checked) and a run-history index.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN on both databases: existing connections keep every value and read as
    # "unknown" until someone checks them.
    op.add_column(
        "connections",
        sa.Column("status", sa.String(32), nullable=False, server_default="unknown"),
    )
    op.add_column("connections", sa.Column("last_error", sa.Text, nullable=True))
    op.add_column("connections", sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_runs_workspace_created", "runs", ["workspace_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_workspace_created", table_name="runs")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("checked_at")
        batch.drop_column("last_error")
        batch.drop_column("status")
