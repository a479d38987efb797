"""Secrets kept out of what the tracker prints and logs: URLs masked, secret keys hidden."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.cli.base import configure_logging
from tracker.errors import ConfigError
from tracker.masking import mask_text, mask_url, mask_value


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("postgresql+psycopg://tracker:pw@db:5432/t", "postgresql+psycopg://tracker:***@db:5432/t"),
        ("https://hooks.example/in?token=abc&x=1", "https://hooks.example/in?token=***&x=1"),
        (
            "https://h/p?api_key=k&sig=s&Signature=t",
            "https://h/p?api_key=***&sig=***&Signature=***",
        ),
        ("https://h/p?password=p;secret=s#frag", "https://h/p?password=***;secret=***#frag"),
        ("tgram://bottoken@telegram/123", "tgram://***@telegram/123"),
        ("mailtos://user:app-pass@gmail.com?to=me", "mailtos://user:***@gmail.com?to=me"),
        ("https://h/p?page=2&limit=10", "https://h/p?page=2&limit=10"),
        ("https://user@h/p?tok=", "https://***@h/p?tok="),
        ("http://127.0.0.1:8765/quotes/biren", "http://127.0.0.1:8765/quotes/biren"),
    ],
)
def test_a_url_keeps_its_place_and_loses_its_secrets(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_every_url_in_running_text_is_masked() -> None:
    text = "POST 'https://h/in?token=abc' failed; retrying via https://u:p@h2/x."

    assert (
        mask_text(text) == "POST 'https://h/in?token=***' failed; retrying via https://u:***@h2/x."
    )


SECRETS = st.text(st.characters(whitelist_categories=["Ll", "Lu", "Nd"]), min_size=6, max_size=30)
NAMES = st.sampled_from(["token", "access_token", "apikey", "api_key", "key", "secret", "sig",
                         "password", "passwd", "X-Amz-Signature", "auth"])  # fmt: skip


@given(secret=SECRETS, name=NAMES, user=st.sampled_from(["", "bob"]))
def test_no_secret_of_a_url_survives_masking(secret: str, name: str, user: str) -> None:
    userinfo = f"{user}:{secret}@" if user else f"{secret}@"
    url = f"https://{userinfo}hooks.example/in?a=1&{name}={secret}&b=2"

    masked = mask_text(f"error at {url}: refused")

    assert secret not in masked
    assert "hooks.example/in?a=1&" in masked
    assert masked.endswith("&b=2: refused")


def test_secret_named_keys_are_hidden_at_any_depth() -> None:
    data = {"sinks": {"webhook": {"url": "https://h/?token=t", "secret": "s"}, "apprise": {
        "urls": "tgram://tok/1"}}, "timeout": 5, "names": ["a"]}  # fmt: skip

    assert mask_value(data) == {
        "sinks": {"webhook": {"url": "https://h/?token=***", "secret": "***"},
                  "apprise": {"urls": "***"}},
        "timeout": 5,
        "names": ["a"],
    }  # fmt: skip


def test_an_error_never_carries_a_urls_secret() -> None:
    error = ConfigError("cannot reach https://h/?token=abc", ["at postgresql://u:pw@db/t"])

    assert "abc" not in error.message
    assert "pw@" not in error.problems[0]


def test_the_commands_logging_masks_records_of_any_logger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(0)  # as every command sets it up
    logging.getLogger("apprise").warning(  # a library's own line
        "Failed to send to %s", "mailtos://user:hunter2@mail.example"
    )

    assert capsys.readouterr().err == (
        "WARNING apprise: Failed to send to mailtos://user:***@mail.example\n"
    )
