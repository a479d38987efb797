"""The alert sinks by name: the ``[sinks.NAME]`` table that turns each on, and how it is built.

Every choice of sink goes through ``SINKS``: a new kind of sink is a builder here and
a table in ``tracker.alerts.settings``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tracker.alerts.settings import RetrySettings, SinksSettings
from tracker.alerts.sinks import AlertSink, JsonlAlertLog, RetryPolicy
from tracker.alerts.stdout import StdoutSink
from tracker.errors import ConfigError
from tracker.store.deliveries import LOG_SINK

logger = logging.getLogger(__name__)

SinkBuilder = Callable[[SinksSettings, Path], list[AlertSink]]  # (settings, alert log path)


@dataclass(frozen=True, slots=True)
class SinkKind:
    """A kind of sink: its name and how the settings build it (no sink when they leave it off).

    ``recorded``: the outbox keeps each delivery to it in its ledger (pending, retried,
    dead-lettered, redelivered, listed by ``tracker alerts``). An unrecorded sink (stdout)
    is handed each alert once it is committed, and keeps nothing: a dry run has it too.
    """

    name: str
    build: SinkBuilder
    recorded: bool = True


def _log(config: SinksSettings, alert_log: Path) -> list[AlertSink]:
    log = config.log
    return [JsonlAlertLog(alert_log, rotate_bytes=log.rotate_bytes, rotate_daily=log.rotate_daily)]


def _stdout(config: SinksSettings, _alert_log: Path) -> list[AlertSink]:
    stdout = config.stdout
    if not stdout.enabled:
        return []
    return [StdoutSink({"always": True, "never": False}.get(stdout.color))]


def _webhook(config: SinksSettings, _alert_log: Path) -> list[AlertSink]:
    hook = config.webhook
    if hook is None:
        return []
    from tracker import __version__
    from tracker.alerts.webhook import WebhookSink  # a quarter second: when configured

    secret = hook.secret.get_secret_value() if hook.secret else None
    if not secret:
        logger.warning("webhook: TRACKER_SINKS__WEBHOOK__SECRET is not set: requests are unsigned")
    return [
        WebhookSink(
            hook.url,
            secret=secret,
            timeout=hook.timeout,
            retry=_retry(hook),
            user_agent=f"listing-tracker/{__version__}",
        )
    ]


def _apprise(config: SinksSettings, _alert_log: Path) -> list[AlertSink]:
    if config.apprise is None:
        return []
    from tracker.alerts.notify import URLS_VARIABLE, apprise_sinks  # as long: when configured

    urls = config.apprise.urls.get_secret_value() if config.apprise.urls else ""
    if not urls.strip():
        raise ConfigError(f"[sinks.apprise] is configured but {URLS_VARIABLE} is not set")
    return list(apprise_sinks(urls, config.apprise.timeout, _retry(config.apprise)))


def _retry(settings: RetrySettings) -> RetryPolicy:
    return RetryPolicy(settings.max_attempts, settings.backoff_initial, settings.backoff_max)


# In the order the outbox delivers to them: the alert log first.
SINKS: Mapping[str, SinkKind] = {
    kind.name: kind
    for kind in (
        SinkKind(LOG_SINK, _log),
        SinkKind("stdout", _stdout, recorded=False),
        SinkKind("webhook", _webhook),
        SinkKind("apprise", _apprise),
    )
}


def build_sinks(
    config: SinksSettings, alert_log: Path, *, recorded: bool = True
) -> list[AlertSink]:
    """The sinks the settings turn on, in ``SINKS`` order: of the recorded kinds (the alert
    log, webhook, apprise), or with ``recorded=False`` of the others (stdout)."""
    return [
        sink
        for kind in SINKS.values()
        if kind.recorded == recorded
        for sink in kind.build(config, alert_log)
    ]
