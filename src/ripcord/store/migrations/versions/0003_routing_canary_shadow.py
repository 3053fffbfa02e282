"""routing: canary shares, shadow version, pause, disabled features

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 04:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("routing", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("canary", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("shadow", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("disabled_features", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing", schema=None) as batch_op:
        batch_op.drop_column("disabled_features")
        batch_op.drop_column("shadow")
        batch_op.drop_column("canary")
        batch_op.drop_column("paused")
