"""Ticks clustered by their key in SQLite: one B-tree instead of a table and an index.

A rowid table with a composite primary key keeps every tick twice (the row, and
the key's index); ``WITHOUT ROWID`` keeps it once, in key order, which makes bulk
inserts about a third faster and the file about half the size. PostgreSQL has no
such choice: nothing changes there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = "listing_id, ts_us, seq, price, volume, turnover"


def _rebuild(with_rowid: bool) -> None:
    """Copy the ticks into a new ``ticks`` table, with or without a rowid."""
    if op.get_bind().dialect.name != "sqlite":
        return
    op.rename_table("ticks", "ticks_old")
    op.create_table(
        "ticks",
        sa.Column("listing_id", sa.String(64), primary_key=True),
        sa.Column("ts_us", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("volume", sa.Double(), nullable=True),
        sa.Column("turnover", sa.Double(), nullable=True),
        sqlite_with_rowid=with_rowid,
    )
    op.execute(f"INSERT INTO ticks ({COLUMNS}) SELECT {COLUMNS} FROM ticks_old")
    op.drop_table("ticks_old")


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
