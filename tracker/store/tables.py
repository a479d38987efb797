"""The database schema. Migrations under ``db/versions`` create exactly these tables."""

from __future__ import annotations

import sqlalchemy as sa

# The Alembic head revision this code expects; a test checks it against db/versions.
SCHEMA_REVISION = "0007"

metadata = sa.MetaData()

listings = sa.Table(
    "listings",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("symbol", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("calendar", sa.String(16), nullable=False),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("offer_price", sa.Double(), nullable=False),
    sa.Column("shares_outstanding", sa.BigInteger(), nullable=False),
)

ticks = sa.Table(
    "ticks",
    metadata,
    sa.Column("listing_id", sa.String(64), primary_key=True),
    sa.Column("ts_us", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
    sa.Column("price", sa.Double(), nullable=False),
    sa.Column("volume", sa.Double(), nullable=True),
    sa.Column("turnover", sa.Double(), nullable=True),
    sqlite_with_rowid=False,  # clustered by the key: one B-tree (migration 0005)
)

listing_state = sa.Table(
    "listing_state",
    metadata,
    sa.Column("listing_id", sa.String(64), primary_key=True),
    sa.Column("last_ts_us", sa.BigInteger(), nullable=True),
    sa.Column("last_seq", sa.Integer(), nullable=False),
    sa.Column("extremes_ts_us", sa.BigInteger(), nullable=True),
    sa.Column("day_high", sa.Double(), nullable=True),
    sa.Column("day_low", sa.Double(), nullable=True),
    sa.Column("last_price", sa.Double(), nullable=True),
    sa.Column("day_open", sa.Double(), nullable=True),
    sa.Column("prev_close", sa.Double(), nullable=True),
)

rule_state = sa.Table(
    "rule_state",
    metadata,
    sa.Column("listing_id", sa.String(64), primary_key=True),
    sa.Column("rule_id", sa.String(64), primary_key=True),
    sa.Column("level", sa.BigInteger(), primary_key=True, autoincrement=False),
    sa.Column("armed", sa.Boolean(), nullable=False),
    sa.Column("last_fired_us", sa.BigInteger(), nullable=True),
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("alert_id", sa.String(32), nullable=False, unique=True),
    sa.Column("listing_id", sa.String(64), nullable=False),
    sa.Column("rule_id", sa.String(64), nullable=False),
    sa.Column("ts_us", sa.BigInteger(), nullable=False),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("record", sa.Text(), nullable=False),
    sa.Index("ix_alerts_listing_ts", "listing_id", "ts_us"),
)

deliveries = sa.Table(
    "alert_deliveries",
    metadata,
    sa.Column("alert_id", sa.String(32), primary_key=True),
    sa.Column("sink", sa.String(32), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("next_attempt_us", sa.BigInteger(), nullable=True),  # wall time
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("redelivery", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Index("ix_alert_deliveries_sink_state", "sink", "state"),
)

pollers = sa.Table(
    "pollers",
    metadata,
    sa.Column("listing_id", sa.String(64), primary_key=True),
    sa.Column("last_poll_us", sa.BigInteger(), nullable=True),
    sa.Column("failing_since_us", sa.BigInteger(), nullable=True),
    sa.Column("down_notified", sa.Boolean(), nullable=False),
    sa.Column("source", sa.Integer(), nullable=False, server_default="0"),  # the one in use
    sa.Column("stale_notified", sa.Boolean(), nullable=False, server_default=sa.false()),
)

# A provider's own figures of a listing's trading day, as of its last poll that day: what a
# report shows for a day whose open the daemon missed (migration 0006).
source_days = sa.Table(
    "source_days",
    metadata,
    sa.Column("listing_id", sa.String(64), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),  # the exchange date, YYYY-MM-DD
    sa.Column("provider", sa.String(32), nullable=False),
    sa.Column("ts_us", sa.BigInteger(), nullable=False),  # the last trade those figures are of
    sa.Column("open", sa.Double(), nullable=True),
    sa.Column("high", sa.Double(), nullable=True),
    sa.Column("low", sa.Double(), nullable=True),
    sa.Column("prev_close", sa.Double(), nullable=True),
)

heartbeats = sa.Table(
    "heartbeats",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("wall_us", sa.BigInteger(), nullable=False),
    sa.Column("clock_us", sa.BigInteger(), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=True),
)

silences = sa.Table(
    "silences",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("listing_id", sa.String(64), nullable=False),
    sa.Column("rule_id", sa.String(64), nullable=True),  # None: the whole listing
    sa.Column("until_us", sa.BigInteger(), nullable=False),  # event time: ticks' instants
    sa.Column("created_us", sa.BigInteger(), nullable=False),  # wall time
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("from_us", sa.BigInteger(), nullable=True),  # event time (0007)
)
