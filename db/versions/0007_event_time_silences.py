"""Silences in event time: each covers the alerts of ticks from ``from_us`` to ``until_us``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("silences") as batch:
        batch.add_column(sa.Column("from_us", sa.BigInteger(), nullable=True))
    # a silence made before this covered the wall time from its making: the same instants
    op.execute("UPDATE silences SET from_us = created_us")


def downgrade() -> None:
    with op.batch_alter_table("silences") as batch:
        batch.drop_column("from_us")
