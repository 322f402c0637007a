"""Durable executions: a paused run's sealed snapshot and the call it waits on.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Both nullable: runs written before this revision (direct calls) never pause.
    op.add_column("runs", sa.Column("snapshot", sa.LargeBinary, nullable=True))
    op.add_column("runs", sa.Column("pending", sa.Text, nullable=True))
    # Expiry sweeps look for a workspace's paused runs past their deadline.
    op.create_index(
        "ix_runs_workspace_status_expires", "runs", ["workspace_id", "status", "expires_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_runs_workspace_status_expires", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("pending")
        batch.drop_column("snapshot")
