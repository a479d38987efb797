"""Live polling: provider day extremes, poller state and daemon heartbeats.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listing_state") as batch:
        batch.add_column(sa.Column("extremes_ts_us", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("day_high", sa.Double(), nullable=True))
        batch.add_column(sa.Column("day_low", sa.Double(), nullable=True))
    op.create_table(
        "pollers",
        sa.Column("listing_id", sa.String(64), primary_key=True),
        sa.Column("last_poll_us", sa.BigInteger(), nullable=True),
        sa.Column("failing_since_us", sa.BigInteger(), nullable=True),
        sa.Column("down_notified", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("wall_us", sa.BigInteger(), nullable=False),
        sa.Column("clock_us", sa.BigInteger(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
    op.drop_table("pollers")
    with op.batch_alter_table("listing_state") as batch:
        batch.drop_column("day_low")
        batch.drop_column("day_high")
        batch.drop_column("extremes_ts_us")
