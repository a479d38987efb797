"""Alert controls: silences, and the state cooldowns and daily levels need.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listing_state") as batch:
        batch.add_column(sa.Column("last_price", sa.Double(), nullable=True))
        batch.add_column(sa.Column("day_open", sa.Double(), nullable=True))
        batch.add_column(sa.Column("prev_close", sa.Double(), nullable=True))
    with op.batch_alter_table("rule_state") as batch:
        batch.add_column(sa.Column("last_fired_us", sa.BigInteger(), nullable=True))
    op.create_table(
        "silences",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("listing_id", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=True),
        sa.Column("until_us", sa.BigInteger(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("silences")
    with op.batch_alter_table("rule_state") as batch:
        batch.drop_column("last_fired_us")
    with op.batch_alter_table("listing_state") as batch:
        batch.drop_column("prev_close")
        batch.drop_column("day_open")
        batch.drop_column("last_price")
