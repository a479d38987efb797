"""Settings of the alert sinks (the ``[sinks]`` tables of tracker.toml).

Secrets (a webhook's shared secret, notification URLs that carry tokens) come
from the environment only, e.g. ``TRACKER_SINKS__WEBHOOK__SECRET``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from tracker.core.limits import DURATION_MAX_S


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LogSinkSettings(_Section):
    """The JSON Lines alert log (always on): rotation."""

    rotate_bytes: Annotated[int, Field(gt=0, le=2**62)] | None = None
    rotate_daily: bool = False


class StdoutSinkSettings(_Section):
    """One readable line per alert on standard output."""

    enabled: bool = True
    color: Literal["auto", "always", "never"] = "auto"


class RetrySettings(_Section):
    """Retries with exponential backoff and jitter (wall seconds), then the dead letter."""

    timeout: Annotated[float, Field(gt=0, le=3_600)] = 5.0  # a whole request's deadline
    max_attempts: Annotated[int, Field(gt=0, le=1_000_000)] = 8
    backoff_initial: Annotated[float, Field(gt=0, le=DURATION_MAX_S)] = 1.0
    backoff_max: Annotated[float, Field(gt=0, le=DURATION_MAX_S)] = 300.0


class WebhookSinkSettings(RetrySettings):
    """POST of each alert record to a URL, signed with HMAC-SHA256."""

    url: str
    secret: SecretStr | None = None  # from TRACKER_SINKS__WEBHOOK__SECRET only

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError("not an http:// or https:// URL")
        return url


class AppriseSinkSettings(RetrySettings):
    """Notifications through apprise URLs (Telegram, Slack, Discord, e-mail, ...)."""

    urls: SecretStr | None = None  # from TRACKER_SINKS__APPRISE__URLS only, comma-separated


class SinksSettings(_Section):
    """Every sink's settings; the log is always on, the others when configured."""

    log: LogSinkSettings = LogSinkSettings()
    stdout: StdoutSinkSettings = StdoutSinkSettings()
    webhook: WebhookSinkSettings | None = None
    apprise: AppriseSinkSettings | None = None


SECRET_KEYS = {("sinks", "webhook", "secret"), ("sinks", "apprise", "urls")}
