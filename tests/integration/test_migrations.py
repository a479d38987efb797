"""The Alembic migrations and the code agree on the schema revision."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory

from tracker.resources import bundled
from tracker.store.tables import SCHEMA_REVISION


def test_code_expects_the_newest_migration() -> None:
    config = Config()
    config.set_main_option("script_location", str(bundled("db")))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_REVISION]
