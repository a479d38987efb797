"""A live day: the source a poller uses, its stale notice, and each provider's day figures.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pollers") as batch:
        batch.add_column(sa.Column("source", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("stale_notified", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "source_days",
        sa.Column("listing_id", sa.String(64), primary_key=True),
        sa.Column("day", sa.String(10), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("open", sa.Double(), nullable=True),
        sa.Column("high", sa.Double(), nullable=True),
        sa.Column("low", sa.Double(), nullable=True),
        sa.Column("prev_close", sa.Double(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("source_days")
    with op.batch_alter_table("pollers") as batch:
        batch.drop_column("stale_notified")
        batch.drop_column("source")
