"""docker-compose.yml stays true: every command in it runs under the real CLI and settings.

Docker cannot run here, so each service's command (and each example in the file's
comments) runs as a local process, with the service's environment, its bind mounts
mapped to the checkout, image paths mapped to the files the Dockerfile copies, and a
SQLite file standing in for the PostgreSQL service.
"""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from commands import tracker_command, tracker_env
from factories import ROOT

from tracker.config import Settings

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = (ROOT / "Dockerfile").read_text()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def tracker_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def substitute(value: str) -> str:
    """Compose's ${VAR:-default} with the defaults, ${VAR} and ${VAR:?msg} as 'pw'."""
    value = re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)
    return re.sub(r"\$\{\w+(:\?[^}]*)?\}", "pw", value)


def image_path(container: str) -> str | None:
    """The checkout file the Dockerfile copies to a container path under /srv."""
    for source, target in re.findall(r"cp (\S+) (/srv/\S+)/", DOCKERFILE):
        if container.startswith(target + "/") and Path(source).name == Path(container).name:
            return str(ROOT / source)
    return None


def host_path(service: dict[str, Any], container: str, scratch: Path) -> str:
    """A container path on this machine: bind mounts in the checkout, volumes in scratch."""
    copied = image_path(container)
    if copied:
        return copied
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if container == target or container.startswith(target + "/"):
            base = ROOT / source if source.startswith("./") else scratch / source
            return str(base) + container[len(target) :]
    return container


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_run(
    service: dict[str, Any], args: list[str], scratch: Path, **extra: str
) -> subprocess.Popen[str]:
    env = {
        k: host_path(service, substitute(str(v)), scratch)
        for k, v in service.get("environment", {}).items()
    }
    env["TRACKER_DB_URL"] = f"sqlite:///{scratch / 'compose.db'}"
    env.update(extra)
    args = [host_path(service, substitute(str(a)), scratch) for a in args]
    return subprocess.Popen(
        [*tracker_command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=tracker_env(**env),
        cwd=scratch,
    )


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def test_the_image_runs_the_tracker_command_and_carries_the_sample_tape() -> None:
    assert 'ENTRYPOINT ["tracker"]' in DOCKERFILE
    for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    copies = re.findall(r"cp (\S+) (/srv/\S+)/", DOCKERFILE)
    assert copies
    for source, _ in copies:
        assert (ROOT / source).is_file()


def test_every_tracker_variable_is_a_real_setting(compose: dict[str, Any]) -> None:
    known = {f"TRACKER_{name.upper()}" for name in Settings.model_fields} | {"TRACKER_CONFIG"}
    for service in tracker_services(compose).values():
        for name in service.get("environment", {}):
            assert name in known, f"{name} is not a tracker setting"


def test_database_url_points_at_the_postgres_service(compose: dict[str, Any]) -> None:
    db = compose["services"]["postgres"]
    assert "pgdata" in db["volumes"][0]
    assert f"-U {db['environment']['POSTGRES_USER']}" in " ".join(db["healthcheck"]["test"])
    for name, service in tracker_services(compose).items():
        if "TRACKER_DB_URL" not in service.get("environment", {}):
            continue
        url = sa.make_url(substitute(service["environment"]["TRACKER_DB_URL"]))
        assert url.host in compose["services"], name
        assert url.get_backend_name() == "postgresql"
        assert url.username == db["environment"]["POSTGRES_USER"]
        assert url.database == db["environment"]["POSTGRES_DB"]


def test_the_daemon_reaches_the_feed_where_the_listing_config_says(compose: dict[str, Any]) -> None:
    services = compose["services"]
    feed, daemon = services["feed"], services["tracker"]
    assert daemon["network_mode"] == "service:feed"
    port = feed["command"][feed["command"].index("--port") + 1]
    listings = (ROOT / "config" / "listings.toml").read_text()
    assert f'url = "http://127.0.0.1:{port}/quotes/biren"' in listings
    assert daemon["command"][:3] == ["run", "--clock", f"http://127.0.0.1:{port}/clock"]
    web = daemon["command"][daemon["command"].index("--web") + 1]
    web_port = web.rpartition(":")[2]
    assert f"127.0.0.1:{web_port}:{web_port}" in feed["ports"]  # the live page, loopback only
    assert daemon["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert daemon["depends_on"]["feed"]["condition"] == "service_healthy"
    assert daemon["restart"] == "unless-stopped"
    check = feed["healthcheck"]["test"]
    assert check[:2] == ["CMD", "python"]
    assert f"http://127.0.0.1:{port}/clock" in check[-1]  # the clock the daemon waits for


def test_compose_commands_run_under_the_real_cli(compose: dict[str, Any], tmp_path: Path) -> None:
    services = compose["services"]
    (tmp_path / "alert-log").mkdir()
    code, _, err = finished(
        local_run(services["migrate"], services["migrate"]["command"], tmp_path)
    )
    assert code == 0, err

    port = free_port()  # the feed's port in compose may be taken on this machine
    config = tmp_path / "listings.toml"
    config.write_text(
        (ROOT / "config" / "listings.toml").read_text().replace(":8765/", f":{port}/")
    )
    feed_args = [str(a) for a in services["feed"]["command"]]
    feed_args[feed_args.index("--port") + 1] = str(port)
    feed_args[feed_args.index("--host") + 1] = "127.0.0.1"
    feed_health = [
        sys.executable if part == "python" else part.replace(":8765/", f":{port}/")
        for part in services["feed"]["healthcheck"]["test"][1:]
    ]
    assert subprocess.run(feed_health, capture_output=True, check=False).returncode != 0
    # the daemon first, as a restart may start it: it waits for the feed's clock
    daemon_args = [a.replace(":8765/", f":{port}/") for a in services["tracker"]["command"]]
    web = daemon_args.index("--web") + 1  # the live page's port may be taken here too
    daemon_args[web] = daemon_args[web].rpartition(":")[0] + f":{free_port()}"
    daemon = local_run(
        services["tracker"],
        [*daemon_args, "--until", "2026-01-02T09:12:00"],
        tmp_path,
        TRACKER_CONFIG=str(config),
    )
    assert daemon.stderr is not None
    waiting = daemon.stderr.readline()
    assert f"--clock http://127.0.0.1:{port}/clock: no clock yet" in waiting
    feed = local_run(services["feed"], feed_args, tmp_path, TRACKER_CONFIG=str(config))
    try:
        assert feed.stdout is not None
        assert f":{port}/quotes/biren" in feed.stdout.readline()
        assert subprocess.run(feed_health, capture_output=True, check=False).returncode == 0
        code, _, err = finished(daemon)
        assert code == 0, waiting + err
    finally:
        feed.terminate()
        finished(feed)
    health = services["tracker"]["healthcheck"]["test"]
    assert health[:2] == ["CMD", "tracker"]
    code, out, err = finished(
        local_run(services["tracker"], health[2:], tmp_path, TRACKER_CONFIG=str(config))
    )
    assert code == 1, err  # the daemon has stopped: unhealthy, and said so
    assert "stopped" in out


def test_the_examples_in_the_comments_run(compose: dict[str, Any], tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    examples = re.findall(r"docker compose exec tracker tracker (.+)", text)
    examples += re.findall(
        r"docker compose run --rm --no-deps --entrypoint tracker tracker (.+)", text
    )
    assert len(examples) >= 2
    (tmp_path / "alert-log").mkdir()
    service = compose["services"]["tracker"]
    for example in examples:
        args = shlex.split(example)
        code, _, err = finished(local_run(service, ["db", "upgrade"], tmp_path))
        assert code == 0, err
        code, _, err = finished(local_run(service, args, tmp_path))
        assert code == 0, f"{args}: {err}"
    assert "migrate" in re.findall(r"docker compose run --rm (\w+)$", text, re.MULTILINE)
