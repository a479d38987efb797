"""docker-compose.yml stays true: its commands run under the real CLI with its settings.

Docker cannot run here, so each tracker service's command (and each
``docker compose run`` example in the file's comments) is run as a local
process, with the service's environment and its bind mounts mapped to the
checkout, and a SQLite file standing in for the PostgreSQL service.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from commands import tracker_command, tracker_env
from factories import ROOT, SAMPLE_TAPE

from tracker.config import Settings

COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def tracker_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def examples() -> list[list[str]]:
    """The ``docker compose run --rm tracker ARGS`` examples in the file's comments."""
    found = re.findall(r"docker compose run --rm tracker (.+)", COMPOSE.read_text())
    return [shlex.split(example) for example in found]


def test_the_image_runs_the_tracker_command(compose: dict[str, Any]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["tracker"]' in dockerfile
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    assert tracker_services(compose)
    for service in tracker_services(compose).values():
        assert service["build"] == "."


def test_every_tracker_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    known = {f"TRACKER_{name.upper()}" for name in Settings.model_fields} | {"TRACKER_CONFIG"}
    for service in tracker_services(compose).values():
        for name in service["environment"]:
            assert name in known, f"{name} is not a tracker setting"


def test_database_url_points_at_the_database_service(compose: dict[str, Any]) -> None:
    db = compose["services"]["db"]
    for name, service in tracker_services(compose).items():
        url = sa.make_url(
            service["environment"]["TRACKER_DB_URL"].replace("${POSTGRES_PASSWORD}", "pw")
        )
        assert url.host in compose["services"], name
        assert url.get_backend_name() == "postgresql"
        assert url.username == db["environment"]["POSTGRES_USER"]
        assert url.database == db["environment"]["POSTGRES_DB"]
        assert "POSTGRES_PASSWORD" in db["environment"]["POSTGRES_PASSWORD"]
        assert "db" in service["depends_on"] or "migrate" in service["depends_on"]
    assert f"-U {db['environment']['POSTGRES_USER']}" in " ".join(db["healthcheck"]["test"])


def host_path(service: dict[str, Any], container: str, scratch: Path) -> str:
    """A container path on this machine: bind mounts in the checkout, volumes in scratch."""
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if container == target or container.startswith(target + "/"):
            base = ROOT / source if source.startswith("./") else scratch / source
            return str(base) + container[len(target) :]
    return container


@pytest.mark.parametrize("case", ["services", "examples"])
def test_compose_commands_run_under_the_real_cli(
    compose: dict[str, Any], tmp_path: Path, case: str
) -> None:
    services = tracker_services(compose)
    runs = (
        [(service, service["command"]) for service in services.values()]
        if case == "services"
        else [(services["tracker"], args) for args in examples()]
    )
    assert runs
    (tmp_path / "tracker-data").mkdir()
    tape_dir = tmp_path / "tapes"
    tape_dir.mkdir()
    shutil.copy(SAMPLE_TAPE, tape_dir / "day.csv")
    for service, args in runs:
        env = {k: host_path(service, str(v), tmp_path) for k, v in service["environment"].items()}
        env["TRACKER_DB_URL"] = f"sqlite:///{tmp_path / 'compose.db'}"
        args = [
            a.replace("/tapes/", f"{tape_dir}/") if a.startswith("/tapes/") else a for a in args
        ]
        result = subprocess.run(
            [*tracker_command(), *args],
            capture_output=True,
            text=True,
            env=tracker_env(**env),
            cwd=tmp_path,
            check=False,
        )
        assert result.returncode == 0, f"{args}: {result.stderr}"
