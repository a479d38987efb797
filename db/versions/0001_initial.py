"""Listings, ticks, rule state, alerts and their deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "listings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("symbol", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("calendar", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("offer_price", sa.Double(), nullable=False),
        sa.Column("shares_outstanding", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "ticks",
        sa.Column("listing_id", sa.String(64), primary_key=True),
        sa.Column("ts_us", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("volume", sa.Double(), nullable=True),
        sa.Column("turnover", sa.Double(), nullable=True),
    )
    op.create_table(
        "listing_state",
        sa.Column("listing_id", sa.String(64), primary_key=True),
        sa.Column("last_ts_us", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
    )
    op.create_table(
        "rule_state",
        sa.Column("listing_id", sa.String(64), primary_key=True),
        sa.Column("rule_id", sa.String(64), primary_key=True),
        sa.Column("level", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("armed", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(32), nullable=False, unique=True),
        sa.Column("listing_id", sa.String(64), nullable=False),
        sa.Column("rule_id", sa.String(64), nullable=False),
        sa.Column("ts_us", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
    )
    op.create_index("ix_alerts_listing_ts", "alerts", ["listing_id", "ts_us"])
    op.create_table(
        "alert_deliveries",
        sa.Column("alert_id", sa.String(32), primary_key=True),
        sa.Column("sink", sa.String(32), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_alert_deliveries_sink_state", "alert_deliveries", ["sink", "state"])


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
    op.drop_table("rule_state")
    op.drop_table("listing_state")
    op.drop_table("ticks")
    op.drop_table("listings")
