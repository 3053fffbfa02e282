"""routing: the half-open trial share, so a progressive traffic return is seen by every process

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("routing", schema=None) as batch_op:
        batch_op.add_column(sa.Column("share", sa.Double(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("routing", schema=None) as batch_op:
        batch_op.drop_column("share")
