"""Secrets kept out of everything the tracker prints, logs or stores as an error.

A URL keeps its scheme, host and path; its password (or a userinfo that is a bare
token) and the values of query parameters named like a secret become ``***``:
``https://hooks.example/in?token=***``, ``postgresql://tracker:***@db/tracker``.
Config keys named like a secret (``secret``, ``urls`` of apprise, ``*_token``...)
are hidden whole.
"""

from __future__ import annotations

import logging
import re
from typing import Any

HIDDEN = "***"
SECRET_NAME = re.compile(r"token|key|secret|pass|pwd|sig|auth|credential|urls", re.IGNORECASE)
# A URL in running text: a scheme, then anything up to white space or a quote.
_URL = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
_USERINFO = re.compile(r"^([^/?#@]*?)@")
_PARAMETER = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")


def mask_url(url: str) -> str:
    """One URL with its password or token userinfo and its secret query values hidden."""
    scheme, _, rest = url.partition("://")
    userinfo = _USERINFO.match(rest)
    if userinfo:
        user, colon, _password = userinfo[1].partition(":")
        shown = f"{user}:{HIDDEN}" if colon else HIDDEN
        rest = f"{shown}@{rest[userinfo.end() :]}"
    rest = _PARAMETER.sub(_hide_parameter, rest)
    return f"{scheme}://{rest}"


def _hide_parameter(match: re.Match[str]) -> str:
    separator, name, value = match.groups()
    if value and SECRET_NAME.search(name):
        value = HIDDEN
    return f"{separator}{name}={value}"


def mask_text(text: str) -> str:
    """Any text with every URL in it masked (``mask_url``)."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: mask_url(match[0]), text)


def mask_value(value: Any, key: str = "") -> Any:
    """Plain data with secret-named keys hidden and URLs masked, at any depth."""
    if isinstance(value, dict):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_value(v, key) for v in value]
    if key and SECRET_NAME.search(key) and value not in (None, ""):
        return HIDDEN
    if isinstance(value, str):
        return mask_text(value)
    return value


class MaskingFilter(logging.Filter):
    """Masks the URLs of every record a handler emits (the tracker's and its libraries')."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
