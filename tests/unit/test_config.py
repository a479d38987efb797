"""Loading listings and settings (contract: listings config), and the exchange table."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import pytest
from factories import LISTINGS

from tracker.config import load_listings, load_settings
from tracker.core.model import Direction, Kind
from tracker.errors import ConfigError
from tracker.markets.exchanges import ALIASES, EXCHANGES

LISTING = """
[[listings]]
id = "biren"
symbol = "6082.HK"
offer_price = 19.60
shares_outstanding = 2_646_592_710
"""

RULE = """
[[listings.rules]]
kind = "price"
threshold = 30
"""


def write(directory: Path, text: str, name: str = "listings.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def refusal(path: Path) -> ConfigError:
    """The ConfigError that loading ``path`` raises."""
    with pytest.raises(ConfigError) as caught:
        load_listings(path)
    return caught.value


def only_problem(path: Path) -> str:
    """The single problem line that loading ``path`` reports, checked to name the file."""
    problems = refusal(path).problems
    assert len(problems) == 1, problems
    line = problems[0]
    assert "\n" not in line
    assert str(path) in line
    return line


# --- the shipped config and defaults ------------------------------------------------------------


def test_shipped_listings_config_loads_biren() -> None:
    biren = load_listings(LISTINGS).get("biren")

    assert biren.symbol == "6082.HK"
    assert biren.name == "Biren Technology"
    assert biren.currency == "HKD"
    assert biren.calendar == "XHKG"
    assert biren.timezone == "Asia/Hong_Kong"
    assert biren.offer_price == 19.60
    assert biren.shares_outstanding == 2_646_592_710
    assert biren.listed_on == dt.date(2026, 1, 2)
    assert biren.shares_basis
    assert len(biren.rules) == 5
    assert biren.rules[0].id == "gain_pct-up-50"
    assert [rule.id for rule in biren.rules] == [
        "gain_pct-up-50",
        "gain_pct-up-80",
        "mcap-100b",
        "gain_pct-up-100",
        "below-offer",
    ]
    below = biren.rules[4]
    assert (below.kind, below.direction, below.threshold) == (Kind.PRICE, Direction.DOWN, 19.60)


def test_defaults_fill_name_calendar_currency_and_rule_fields(workdir: Path) -> None:
    path = write(workdir, LISTING + RULE)

    listing = load_listings(path).get("biren")

    assert listing.name == "biren"
    assert listing.calendar == "XHKG"
    assert listing.timezone == "Asia/Hong_Kong"
    assert listing.currency == "HKD"
    assert listing.listed_on is None
    assert listing.shares_basis is None
    (rule,) = listing.rules
    assert rule.id == "price-up-30"
    assert rule.direction is Direction.UP
    assert rule.rearm_pct == 1.0
    assert rule.once is False


def test_listing_without_rules_has_none(workdir: Path) -> None:
    listing = load_listings(write(workdir, LISTING)).get("biren")

    assert listing.rules == ()


def test_currency_and_time_zone_follow_the_calendar(workdir: Path) -> None:
    path = write(workdir, LISTING + 'calendar = "XNYS"\n')

    listing = load_listings(path).get("biren")

    assert (listing.currency, listing.timezone) == ("USD", "America/New_York")


def test_explicit_currency_wins_over_the_calendar_default(workdir: Path) -> None:
    path = write(workdir, LISTING + 'calendar = "XNYS"\ncurrency = "HKD"\n')

    assert load_listings(path).get("biren").currency == "HKD"


def test_calendar_alias_is_accepted(workdir: Path) -> None:
    path = write(workdir, LISTING + 'calendar = "HKEX"\n')

    listing = load_listings(path).get("biren")

    assert listing.timezone == "Asia/Hong_Kong"
    assert listing.currency == "HKD"


def test_default_rule_ids_are_kind_direction_threshold(workdir: Path) -> None:
    rules = """
[[listings.rules]]
kind = "gain_pct"
threshold = 50
[[listings.rules]]
kind = "market_cap"
threshold = 100_000_000_000
[[listings.rules]]
kind = "price"
threshold = 19.60
direction = "down"
"""
    listing = load_listings(write(workdir, LISTING + rules)).get("biren")

    assert [rule.id for rule in listing.rules] == [
        "gain_pct-up-50",
        "market_cap-up-100000000000",
        "price-down-19.6",
    ]


def test_any_number_of_listings_load_in_file_order(workdir: Path) -> None:
    second = LISTING.replace('"biren"', '"other"').replace("6082.HK", "OTHER")
    third = LISTING.replace('"biren"', '"third"').replace("6082.HK", "THIRD")

    listings = load_listings(write(workdir, LISTING + second + third))

    assert list(listings.by_id) == ["biren", "other", "third"]
    assert listings.get("other").symbol == "OTHER"


def test_empty_config_has_no_listings(workdir: Path) -> None:
    assert load_listings(write(workdir, "")).by_id == {}


def test_unknown_listing_id_is_a_config_error(workdir: Path) -> None:
    listings = load_listings(write(workdir, LISTING))

    with pytest.raises(ConfigError, match="nope"):
        listings.get("nope")


def test_rule_options_are_read(workdir: Path) -> None:
    rule = RULE + 'id = "p30"\ndirection = "down"\nrearm_pct = 2.5\nonce = true\n'

    (loaded,) = load_listings(write(workdir, LISTING + rule)).get("biren").rules

    assert (loaded.id, loaded.direction, loaded.rearm_pct, loaded.once) == (
        "p30",
        Direction.DOWN,
        2.5,
        True,
    )


def test_every_provider_of_the_contract_is_accepted(workdir: Path) -> None:
    for provider in ("feed", "http_json", "yahoo", "tencent"):
        source = f'[listings.source]\nprovider = "{provider}"\nurl = "http://127.0.0.1:1/q"\n'
        if provider == "http_json":
            source += '[listings.source.fields]\nprice = "data.last"\ntime = "data.time"\n'
        load_listings(write(workdir, LISTING + source))


def test_yahoo_and_tencent_need_no_url_but_feed_and_http_json_do(workdir: Path) -> None:
    for provider in ("yahoo", "tencent"):
        load_listings(write(workdir, LISTING + f'[listings.source]\nprovider = "{provider}"\n'))
    for provider in ("feed", "http_json"):
        path = write(workdir, LISTING + f'[listings.source]\nprovider = "{provider}"\n')
        with pytest.raises(ConfigError) as caught:
            load_listings(path)
        assert any("needs a url" in line for line in caught.value.problems)


def test_http_json_fields_are_required_and_only_for_http_json(workdir: Path) -> None:
    source = '[listings.source]\nprovider = "http_json"\nurl = "http://127.0.0.1:1/q"\n'
    with pytest.raises(ConfigError, match="invalid"):
        load_listings(write(workdir, LISTING + source))
    source = (
        '[listings.source]\nprovider = "yahoo"\n[listings.source.fields]\nprice = "p"\ntime = "t"\n'
    )
    with pytest.raises(ConfigError, match="invalid"):
        load_listings(write(workdir, LISTING + source))


def test_sources_are_listed_in_priority_order_with_their_own_settings(workdir: Path) -> None:
    sources = (
        '[[listings.sources]]\nprovider = "tencent"\nclose_grace = "2m"\n'
        '[[listings.sources]]\nprovider = "yahoo"\ninterval = 10\ndown_after = 90\n'
    )
    config = load_listings(write(workdir, LISTING + sources)).configs["biren"]

    assert [(s.provider, s.interval, s.close_grace, s.down_after) for s in config.polled] == [
        ("tencent", 5.0, 120.0, 300.0),
        ("yahoo", 10.0, 300.0, 90.0),
    ]


def test_a_single_source_is_the_listings_only_source(workdir: Path) -> None:
    source = '[listings.source]\nprovider = "tencent"\n'
    config = load_listings(write(workdir, LISTING + source)).configs["biren"]
    assert [s.provider for s in config.polled] == ["tencent"]
    assert load_listings(write(workdir, LISTING)).configs["biren"].polled == []


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (
            '[listings.source]\nprovider = "yahoo"\n[[listings.sources]]\nprovider = "tencent"\n',
            "not both",
        ),
        ("sources = []\n", "sources"),
        ('[[listings.sources]]\nprovider = "yahoo"\nclose_grace = "soon"\n', "close_grace"),
        ('[[listings.sources]]\nprovider = "yahoo"\ndown_after = -1\n', "down_after"),
        ('[[listings.sources]]\nprovider = "reuters"\n', "source #1: provider"),
    ],
    ids=["both", "none", "bad-duration", "negative", "unknown-provider"],
)
def test_bad_sources_are_refused_naming_the_key(workdir: Path, extra: str, words: str) -> None:
    line = only_problem(write(workdir, LISTING + extra))
    assert "'biren'" in line
    assert words in line


@pytest.mark.parametrize("scale", ["0", "-0.001", '"x"', "inf"])
def test_http_json_scales_must_be_positive_numbers(workdir: Path, scale: str) -> None:
    source = (
        '[listings.source]\nprovider = "http_json"\nurl = "http://127.0.0.1:1/q"\n'
        f'[listings.source.fields]\nprice = "p"\ntime = "t"\nprice_scale = {scale}\n'
    )
    assert "price_scale" in only_problem(write(workdir, LISTING + source))


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ('colour = "red"\n', "colour"),
        (RULE + "bogus = 1\n", "bogus"),
        ('[listings.source]\nprovider = "feed"\nport = 1\n', "port"),
    ],
    ids=["in-listing", "in-rule", "in-source"],
)
def test_unknown_key_is_refused_naming_listing_and_key(workdir: Path, extra: str, key: str) -> None:
    line = only_problem(write(workdir, LISTING + extra))

    assert "'biren'" in line
    assert key in line
    assert "unknown key" in line


def test_unknown_top_level_key_is_refused(workdir: Path) -> None:
    line = only_problem(write(workdir, 'colour = "red"\n' + LISTING))

    assert "colour" in line
    assert "unknown key" in line


@pytest.mark.parametrize("key", ["symbol", "offer_price", "shares_outstanding"])
def test_missing_required_key_is_refused_naming_listing_and_key(workdir: Path, key: str) -> None:
    text = "\n".join(line for line in LISTING.splitlines() if not line.startswith(key))

    line = only_problem(write(workdir, text))

    assert "'biren'" in line
    assert key in line
    assert "missing" in line


def test_missing_listing_id_is_refused_naming_the_listing_position(workdir: Path) -> None:
    text = LISTING.replace('id = "biren"\n', "")

    line = only_problem(write(workdir, text))

    assert "#1" in line
    assert "id" in line
    assert "missing" in line


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("offer_price", "0"),
        ("offer_price", "-19.60"),
        ("offer_price", "nan"),
        ("shares_outstanding", "0"),
        ("shares_outstanding", "-5"),
    ],
)
def test_non_positive_offer_price_or_share_count_is_refused(
    workdir: Path, key: str, value: str
) -> None:
    text = "\n".join(
        f"{key} = {value}" if line.startswith(key) else line for line in LISTING.splitlines()
    )

    line = only_problem(write(workdir, text))

    assert "'biren'" in line
    assert key in line


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ('kind = "volume"\nthreshold = 1\n', "kind"),
        ('kind = "price"\nthreshold = 1\ndirection = "sideways"\n', "direction"),
    ],
)
def test_unknown_kind_or_direction_is_refused(workdir: Path, rule: str, key: str) -> None:
    line = only_problem(write(workdir, LISTING + "[[listings.rules]]\n" + rule))

    assert "'biren'" in line
    assert key in line


@pytest.mark.parametrize(
    ("rule", "key"),
    [
        ("threshold = 1\n", "kind"),
        ('kind = "price"\n', "threshold"),
        ('kind = "price"\nthreshold = inf\n', "threshold"),
        ('kind = "price"\nthreshold = "30"\n', "threshold"),
    ],
)
def test_rule_without_a_valid_kind_and_threshold_is_refused(
    workdir: Path, rule: str, key: str
) -> None:
    line = only_problem(write(workdir, LISTING + "[[listings.rules]]\n" + rule))

    assert "'biren'" in line
    assert key in line


def test_unknown_calendar_is_refused(workdir: Path) -> None:
    line = only_problem(write(workdir, LISTING + 'calendar = "XXXX"\n'))

    assert "'biren'" in line
    assert "calendar" in line
    assert "XXXX" in line


def test_unknown_provider_is_refused(workdir: Path) -> None:
    line = only_problem(write(workdir, LISTING + '[listings.source]\nprovider = "bloomberg"\n'))

    assert "'biren'" in line
    assert "provider" in line


def test_duplicate_listing_ids_are_refused(workdir: Path) -> None:
    line = only_problem(write(workdir, LISTING + LISTING))

    assert "'biren'" in line
    assert "duplicate" in line


def test_duplicate_rule_ids_are_refused(workdir: Path) -> None:
    rules = RULE + 'id = "same"\n' + RULE.replace("30", "40") + 'id = "same"\n'

    line = only_problem(write(workdir, LISTING + rules))

    assert "'biren'" in line
    assert "'same'" in line
    assert "duplicate" in line


def test_default_rule_id_clashing_with_an_explicit_one_is_refused(workdir: Path) -> None:
    rules = RULE + RULE.replace("30", "40") + 'id = "price-up-30"\n'

    line = only_problem(write(workdir, LISTING + rules))

    assert "'biren'" in line
    assert "price-up-30" in line
    assert "duplicate" in line


def test_two_rules_with_the_same_default_id_are_refused(workdir: Path) -> None:
    line = only_problem(write(workdir, LISTING + RULE + RULE))

    assert "price-up-30" in line
    assert "duplicate" in line


@pytest.mark.parametrize("rearm_pct", ["100", "100.0", "-1", "-0.5", "250"])
def test_rearm_pct_outside_0_to_100_is_refused(workdir: Path, rearm_pct: str) -> None:
    line = only_problem(write(workdir, LISTING + RULE + f"rearm_pct = {rearm_pct}\n"))

    assert "'biren'" in line
    assert "rearm_pct" in line


@pytest.mark.parametrize("rearm_pct", ["0", "0.0", "99.5"])
def test_rearm_pct_inside_0_to_100_is_accepted(workdir: Path, rearm_pct: str) -> None:
    path = write(workdir, LISTING + RULE + f"rearm_pct = {rearm_pct}\n")

    (rule,) = load_listings(path).get("biren").rules

    assert rule.rearm_pct == float(rearm_pct)


@pytest.mark.parametrize(
    "rule",
    [
        'kind = "gain_pct"\nthreshold = -100\n',
        'kind = "gain_pct"\nthreshold = -150\n',
        'kind = "price"\nthreshold = 0\n',
        'kind = "price"\nthreshold = -1\n',
        'kind = "market_cap"\nthreshold = 0\n',
        # 1000 / 2,646,592,710 shares is 0.00000038: 0 after rounding to 6 decimals.
        'kind = "market_cap"\nthreshold = 1000\n',
    ],
)
def test_rule_whose_level_is_not_positive_is_refused(workdir: Path, rule: str) -> None:
    line = only_problem(write(workdir, LISTING + "[[listings.rules]]\n" + rule))

    assert "'biren'" in line
    assert "threshold" in line


def test_rule_with_a_small_positive_level_is_accepted(workdir: Path) -> None:
    path = write(workdir, LISTING + '[[listings.rules]]\nkind = "gain_pct"\nthreshold = -99\n')

    (rule,) = load_listings(path).get("biren").rules

    assert rule.threshold == -99


def test_every_problem_is_reported_one_line_each(workdir: Path) -> None:
    text = LISTING.replace("19.60", "0") + 'colour = "red"\n' + RULE + 'direction = "sideways"\n'

    problems = refusal(write(workdir, text)).problems

    assert len(problems) == 3
    assert all("\n" not in line and "'biren'" in line for line in problems)
    for key in ("offer_price", "colour", "direction"):
        assert sum(key in line for line in problems) == 1, key


def test_problems_of_the_second_listing_name_that_listing(workdir: Path) -> None:
    second = LISTING.replace('"biren"', '"other"') + 'colour = "red"\n'

    line = only_problem(write(workdir, LISTING + second))

    assert "'other'" in line
    assert "'biren'" not in line


def test_broken_toml_is_refused_naming_the_file(workdir: Path) -> None:
    path = write(workdir, LISTING + "[[listings\n")

    error = refusal(path)

    assert str(path) in str(error)
    assert "TOML" in str(error)


def test_missing_listings_file_is_refused_naming_the_file(workdir: Path) -> None:
    path = workdir / "missing.toml"

    error = refusal(path)

    assert str(path) in str(error)


def test_config_errors_exit_with_code_2(workdir: Path) -> None:
    assert refusal(write(workdir, LISTING + LISTING)).exit_code == 2


# --- settings -----------------------------------------------------------------------------------


def test_settings_defaults(workdir: Path) -> None:
    settings = load_settings()

    assert settings.db_url == "sqlite:///tracker.db"
    assert settings.alert_log == Path("alerts.jsonl")
    assert settings.language == "en"
    assert settings.replay.chunk_size == 100_000


def test_settings_come_from_config_tracker_toml_in_the_working_directory(workdir: Path) -> None:
    (workdir / "config").mkdir()
    write(workdir / "config", 'db_url = "sqlite:///from-default-file.db"\n', "tracker.toml")

    assert load_settings().db_url == "sqlite:///from-default-file.db"


def test_settings_file_named_by_tracker_settings(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "config").mkdir()
    write(workdir / "config", 'db_url = "sqlite:///default-file.db"\n', "tracker.toml")
    path = write(
        workdir,
        'db_url = "sqlite:///named.db"\nlanguage = "zh-Hans"\n[replay]\nchunk_size = 5\n',
        "named.toml",
    )
    monkeypatch.setenv("TRACKER_SETTINGS", str(path))

    settings = load_settings()

    assert settings.db_url == "sqlite:///named.db"
    assert settings.language == "zh-Hans"
    assert settings.replay.chunk_size == 5


def test_environment_overrides_the_settings_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(workdir, 'db_url = "sqlite:///file.db"\nalert_log = "file.jsonl"\n', "s.toml")
    monkeypatch.setenv("TRACKER_SETTINGS", str(path))
    monkeypatch.setenv("TRACKER_DB_URL", "sqlite:///env.db")

    settings = load_settings()

    assert settings.db_url == "sqlite:///env.db"
    assert settings.alert_log == Path("file.jsonl")


def test_flags_override_the_environment(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_DB_URL", "sqlite:///env.db")
    monkeypatch.setenv("TRACKER_ALERT_LOG", "env.jsonl")

    settings = load_settings(db_url="sqlite:///flag.db", alert_log=None)

    assert settings.db_url == "sqlite:///flag.db"
    assert settings.alert_log == Path("env.jsonl")  # a flag not given (None) overrides nothing


def test_nested_setting_from_environment(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(workdir, "[replay]\nchunk_size = 5\n", "s.toml")
    monkeypatch.setenv("TRACKER_SETTINGS", str(path))
    monkeypatch.setenv("TRACKER_REPLAY__CHUNK_SIZE", "7")

    assert load_settings().replay.chunk_size == 7


def test_other_tracker_variables_do_not_break_settings(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_CONFIG", str(LISTINGS))

    assert load_settings().db_url == "sqlite:///tracker.db"


@pytest.mark.parametrize(
    "text", ['colour = "red"\n', "[replay]\nchunk_size = 5\ncolour = 1\n", "[webhook]\nurl = 1\n"]
)
def test_unknown_key_in_settings_file_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    path = write(workdir, text, "s.toml")
    monkeypatch.setenv("TRACKER_SETTINGS", str(path))

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert any(str(path) in line for line in caught.value.problems)


def test_bad_setting_from_the_environment_names_the_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "config").mkdir()
    (workdir / "config" / "tracker.toml").write_text('language = "en"\n')
    monkeypatch.setenv("TRACKER_LANGUAGE", "fr")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    [problem] = caught.value.problems
    assert problem.startswith("TRACKER_LANGUAGE: ")
    assert "'fr'" in problem


def test_bad_setting_from_the_file_names_the_file_and_key(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = workdir / "settings.toml"
    settings.write_text("[replay]\nchunk_size = 0\n")
    monkeypatch.setenv("TRACKER_SETTINGS", str(settings))

    with pytest.raises(ConfigError) as caught:
        load_settings()

    [problem] = caught.value.problems
    assert problem.startswith(f"{settings}: replay.chunk_size: ")


def test_tracker_settings_naming_a_missing_file_is_refused(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_SETTINGS", str(workdir / "nope.toml"))

    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_settings()


def test_broken_settings_file_is_refused(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(workdir, "db_url = \n", "s.toml")
    monkeypatch.setenv("TRACKER_SETTINGS", str(path))

    with pytest.raises(ConfigError, match=r"s\.toml"):
        load_settings()


# --- the exchange table against exchange_calendars ----------------------------------------------


def _exchange_calendars() -> tuple[list[str], dict[str, str], dict[str, str]]:
    """Calendar names, aliases and time zones, read without building any calendar."""
    with warnings.catch_warnings():
        # exchange_calendars calls pandas APIs that pandas 3 deprecates (Pandas4Warning); the
        # suite turns warnings into errors, and this is not ours to fix.
        warnings.filterwarnings("ignore", "DatetimeIndex.weekday is deprecated")
        warnings.filterwarnings("ignore", "Series.values returning an ndarray")
        import exchange_calendars

        names = exchange_calendars.get_calendar_names(include_aliases=False)
        dispatcher = exchange_calendars.calendar_utils.global_calendar_dispatcher
        aliases = dispatcher.aliases_to_names()
        factories = exchange_calendars.calendar_utils._default_calendar_factories
        zones = {name: str(factories[name].tz) for name in names}
    return names, aliases, zones


def test_exchange_table_has_every_calendar_with_its_time_zone() -> None:
    names, _, zones = _exchange_calendars()

    assert set(EXCHANGES) == set(names)
    assert {name: EXCHANGES[name].timezone for name in names} == zones


def test_exchange_aliases_match_exchange_calendars() -> None:
    _, aliases, _ = _exchange_calendars()

    assert aliases == ALIASES


def test_every_exchange_has_a_three_letter_currency() -> None:
    assert all(
        len(venue.currency) == 3 and venue.currency.isupper() for venue in EXCHANGES.values()
    )


# --- values the tracker cannot hold (contract: refused where they enter) ------------------------

SOURCE = '[listings.source]\nprovider = "yahoo"\n'


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (LISTING.replace("19.60", "1e300"), "offer_price", "above 1,000,000,000"),
        (LISTING.replace("19.60", "1e-9"), "offer_price", "below 0.000001"),
        (LISTING.replace("2_646_592_710", "100000000000000000000000"), "shares_outstanding", ""),
        (LISTING + "listed_on = 9999-01-01\n", "listed_on", "outside the years 1900-2199"),
        (LISTING + RULE + "expires = 9999-12-31\n", "expires", "got 9999-12-31"),
        (LISTING + RULE + "expires = 9999-12-31T23:00:00\n", "expires", "outside the years"),
        (LISTING + RULE + 'cooldown = "99999999999d"\n', "cooldown", "longer than a hundred"),
        (LISTING + SOURCE + "interval = 1e9\n", "source.interval", "86400"),
        (LISTING + SOURCE + "timeout = 1e9\n", "source.timeout", "3600"),
        (LISTING + SOURCE + "close_grace = 1e300\n", "source.close_grace", "hundred years"),
        (
            LISTING + '[[listings.rules]]\nkind = "gain_pct"\nthreshold = 1e300\n',
            "threshold",
            "above 1,000,000,000",
        ),
        (
            LISTING + '[[listings.rules]]\nkind = "market_cap"\nthreshold = 1e300\n',
            "threshold",
            "above 1,000,000,000",
        ),
        (
            LISTING + '[[listings.rules]]\nkind = "price"\nthreshold = 1e-300\n',
            "threshold",
            "below 0.000001",
        ),
        (
            LISTING + '[[listings.rules]]\nkind = "gain_pct"\nthreshold = 1e9\n'
            'reference = "open"\n',
            "threshold",
            "at most 100,000%",
        ),
    ],
    ids=[
        "offer-1e300", "offer-1e-9", "shares-1e23", "listed-9999", "expires-9999",
        "expires-9999-time", "cooldown-huge", "interval-1e9", "timeout-1e9", "grace-1e300",
        "gain-1e300", "mcap-1e300", "price-1e-300", "gain-vs-open-1e9",
    ],
)  # fmt: skip
def test_a_value_the_tracker_cannot_hold_is_refused_naming_its_key(
    workdir: Path, text: str, key: str, words: str
) -> None:
    line = only_problem(write(workdir, text))

    assert "'biren'" in line
    assert f"{key}:" in line or f"{key} " in line
    assert words in line


def test_values_at_the_edges_of_what_the_tracker_holds_are_accepted(workdir: Path) -> None:
    text = (
        LISTING.replace("19.60", "1e9").replace("2_646_592_710", "1_000_000_000_000_000")
        + "listed_on = 1900-01-01\n"
        + RULE.replace("30", "0.000001")
        + 'expires = 2199-12-31\ncooldown = "36500d"\n'
        + '[[listings.rules]]\nkind = "gain_pct"\nthreshold = 100_000\nreference = "open"\n'
        + SOURCE
        + "interval = 86400\ntimeout = 3600\n"
    )

    listing = load_listings(write(workdir, text)).get("biren")

    assert (listing.offer_price, listing.shares_outstanding) == (1e9, 10**15)
    price, gain = listing.rules
    assert price.threshold == 0.000001
    assert price.expires_us is not None
    assert gain.threshold == 100_000


def test_a_huge_thresholds_default_rule_id_stays_short(workdir: Path) -> None:
    path = write(workdir, LISTING + '[[listings.rules]]\nkind = "market_cap"\nthreshold = 1e17\n')

    (rule,) = load_listings(path).get("biren").rules

    assert rule.id == "market_cap-up-1e+17"


def test_a_secret_in_a_listings_url_is_not_echoed_in_a_problem(workdir: Path) -> None:
    source = '[listings.source]\nprovider = "http_json"\nurl = "https://q.example/?apikey=s3cr3t"\n'

    line = only_problem(write(workdir, LISTING + source))

    assert "needs [listings.source.fields]" in line
    assert "https://q.example/?apikey=***" in line  # the table it got, the key masked
    assert "s3cr3t" not in line


def test_an_incomplete_webhook_section_does_not_echo_its_secret(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(workdir, "[sinks.webhook]\ntimeout = 3\n", "tracker.toml")
    monkeypatch.setenv("TRACKER_SETTINGS", str(workdir / "tracker.toml"))
    monkeypatch.setenv("TRACKER_SINKS__WEBHOOK__SECRET", "TOPSECRET123")

    with pytest.raises(ConfigError) as refused:
        load_settings()

    [problem] = refused.value.problems
    assert "sinks.webhook.url: Field required" in problem
    assert "TOPSECRET123" not in problem


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRACKER_SINKS__WEBHOOK__TIMEOUT", "1e9"),
        ("TRACKER_SINKS__WEBHOOK__BACKOFF_MAX", "1e300"),
        ("TRACKER_SINKS__WEBHOOK__MAX_ATTEMPTS", "99999999999"),
        ("TRACKER_SINKS__LOG__ROTATE_BYTES", "99999999999999999999"),
        ("TRACKER_REPLAY__CHUNK_SIZE", "99999999999"),
    ],
)
def test_a_setting_the_tracker_cannot_hold_is_refused_naming_its_variable(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("TRACKER_SINKS__WEBHOOK__URL", "https://hooks.example/in?token=s3cr3t")
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as refused:
        load_settings()

    [problem] = refused.value.problems
    assert problem.startswith(f"{variable}: ")
    assert "s3cr3t" not in problem
