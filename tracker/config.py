"""Listings and settings: loaded and validated once, then frozen.

Listings come from a TOML file (``config/listings.toml``); settings from
``config/tracker.toml`` (or the file ``TRACKER_SETTINGS`` names), overridden by
``TRACKER_*`` environment variables, overridden by command-line flags.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from tracker.alerts.settings import SECRET_KEYS, SinksSettings
from tracker.core.limits import (
    AMOUNT_MAX,
    date_problem,
    duration_problem,
    price_problem,
)
from tracker.core.model import Direction, Kind, Listing, Reference, Rule, datetime_to_ts
from tracker.errors import ConfigError
from tracker.markets.exchanges import ALIASES, exchange
from tracker.masking import mask_value
from tracker.sources.registry import PROVIDERS

DEFAULT_LISTINGS = Path("config/listings.toml")
DEFAULT_SETTINGS = Path("config/tracker.toml")

_Slug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)]
_Number = Annotated[float, Field(allow_inf_nan=False, strict=True)]


def _held_price(value: float) -> float:
    if (problem := price_problem(value)) is not None:
        raise ValueError(f"the price {problem}")
    return value


def _held_date(value: dt.date) -> dt.date:
    if (problem := date_problem(value)) is not None:
        raise ValueError(f"the date {problem}")
    return value


_Price = Annotated[_Number, AfterValidator(_held_price)]
_Shares = Annotated[int, Field(gt=0, le=int(AMOUNT_MAX), strict=True)]
_Date = Annotated[dt.date, AfterValidator(_held_date)]
_Interval = Annotated[_Number, Field(gt=0, le=86_400)]  # seconds between polls: a day at most
_Timeout = Annotated[_Number, Field(gt=0, le=3_600)]  # seconds a request may take: an hour
GAIN_PCT_MAX = 100_000.0  # a thousand times the reference price


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.ASCII)
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PHASES = ("pre_open", "continuous", "closing_auction")


class RuleConfig(_Strict):
    """A ``[[listings.rules]]`` table."""

    id: _Slug | None = None
    kind: Kind
    threshold: _Number
    direction: Direction = Direction.UP
    rearm_pct: Annotated[_Number, Field(ge=0, lt=100)] = 1.0
    once: StrictBool = False
    cooldown: _Number | str = 0
    expires: dt.datetime | _Date | None = None
    phases: list[Literal["pre_open", "continuous", "closing_auction"]] | None = None
    reference: Reference = Reference.OFFER

    @field_validator("cooldown")
    @classmethod
    def _duration(cls, value: float | str) -> float:
        return duration_seconds(value, "a cooldown")

    @field_validator("expires")
    @classmethod
    def _held_expiry(cls, value: dt.date | dt.datetime | None) -> dt.date | dt.datetime | None:
        if isinstance(value, dt.datetime):
            _held_date(value.date())
        return value

    @model_validator(mode="after")
    def _reference_for_gains(self) -> RuleConfig:
        if self.reference is not Reference.OFFER and self.kind is not Kind.GAIN_PCT:
            raise ValueError("reference is for gain_pct rules only")
        if self.phases is not None and not self.phases:
            raise ValueError("phases, when given, names at least one phase")
        return self

    def to_rule(self, timezone: str) -> Rule:
        """The domain rule, its id defaulting to ``{kind}-{direction}-{threshold}``."""
        rule_id = self.id or f"{self.kind}-{self.direction}-{format_number(self.threshold)}"
        return Rule(
            rule_id,
            self.kind,
            self.threshold,
            self.direction,
            self.rearm_pct,
            self.once,
            cooldown_us=round(float(self.cooldown) * 1_000_000),
            expires_us=_expiry(self.expires, timezone),
            phases=frozenset(self.phases) if self.phases else None,
            reference=self.reference,
        )


def duration_seconds(value: float | str, what: str) -> float:
    """Seconds of a duration given as a number of seconds or as text: '90s', '15m', '2h'."""
    if isinstance(value, str):
        match = _DURATION.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"{value!r} is not a duration like 90, '90s', '15m' or '2h'")
        value = float(match[1]) * _SECONDS[match[2]]
    if value < 0:
        raise ValueError(f"{what} cannot be negative")
    if (problem := duration_problem(value)) is not None:
        raise ValueError(f"{what} {problem}")
    return float(value)


def _expiry(expires: dt.date | dt.datetime | None, timezone: str) -> int | None:
    """The instant a rule stops: a date's end, or a time (exchange time without an offset)."""
    if expires is None:
        return None
    zone = ZoneInfo(timezone)
    if isinstance(expires, dt.datetime):
        moment = expires if expires.tzinfo else expires.replace(tzinfo=zone)
    else:
        moment = dt.datetime.combine(expires + dt.timedelta(days=1), dt.time(), zone)
    return datetime_to_ts(moment)


_Scale = Annotated[_Number, Field(gt=0)]


class JsonFields(_Strict):
    """Where an ``http_json`` payload keeps each figure (dotted paths like ``data.last``).

    The scales turn a payload's units into the listing's: ``price_scale = 0.001`` for
    prices given in thousandths (eastmoney's integers), ``volume_scale = 100`` for
    volume in lots of 100 shares.
    """

    price: str
    time: str
    volume: str | None = None
    turnover: str | None = None
    high: str | None = None
    low: str | None = None
    open: str | None = None
    prev_close: str | None = None
    price_scale: _Scale = 1.0  # price, high, low, open and prev_close
    volume_scale: _Scale = 1.0
    turnover_scale: _Scale = 1.0


if TYPE_CHECKING:
    ProviderName = str
else:  # a name in the registry: pydantic refuses any other, listing these
    ProviderName = Literal[tuple(PROVIDERS)]


class SourceConfig(_Strict):
    """A ``[listings.source]`` table (or one of ``[[listings.sources]]``): where quotes come from.

    ``close_grace``: how long after the closing auction polling goes on until the day's
    closing print is seen; ``down_after``: how long polls may fail before the source
    counts as down (the next source is then polled, or a "down" notice is logged).
    """

    provider: ProviderName
    url: str | None = None
    interval: _Interval = 5.0
    timeout: _Timeout = 5.0
    close_grace: _Number | str = 300.0
    down_after: _Number | str = 300.0
    fields: JsonFields | None = None

    @field_validator("close_grace", "down_after")
    @classmethod
    def _duration(cls, value: float | str, info: ValidationInfo) -> float:
        return duration_seconds(value, str(info.field_name))

    @model_validator(mode="after")
    def _complete(self) -> SourceConfig:
        kind = PROVIDERS[self.provider]
        if kind.needs_url and not self.url:
            raise ValueError(f"provider {self.provider!r} needs a url")
        if kind.takes_fields and self.fields is None:
            raise ValueError(
                f"provider {self.provider!r} needs [listings.source.fields] (price, time...)"
            )
        if not kind.takes_fields and self.fields is not None:
            takers = " or ".join(repr(k.name) for k in PROVIDERS.values() if k.takes_fields)
            raise ValueError(f"fields are for provider {takers} only")
        return self


class ListingConfig(_Strict):
    """A ``[[listings]]`` table."""

    id: _Slug
    symbol: Annotated[str, Field(min_length=1)]
    name: str | None = None
    calendar: str = "XHKG"
    currency: str | None = None
    offer_price: _Price
    shares_outstanding: _Shares
    shares_basis: str | None = None
    listed_on: _Date | None = None
    rules: list[RuleConfig] = []
    source: SourceConfig | None = None
    sources: Annotated[list[SourceConfig], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _one_way_to_name_sources(self) -> ListingConfig:
        if self.source is not None and self.sources is not None:
            raise ValueError("give [listings.source] or [[listings.sources]], not both")
        return self

    @property
    def polled(self) -> list[SourceConfig]:
        """The listing's quote sources in priority order (none: the daemon skips it)."""
        if self.sources is not None:
            return list(self.sources)
        return [] if self.source is None else [self.source]

    @field_validator("calendar")
    @classmethod
    def _known_calendar(cls, code: str) -> str:
        if exchange(code) is None:
            raise ValueError(f"unknown calendar {code!r} (an exchange_calendars code, e.g. XHKG)")
        return ALIASES.get(code, code)

    def to_listing(self) -> Listing:
        """The domain listing, with defaults filled in from the calendar."""
        venue = exchange(self.calendar)
        assert venue is not None  # checked by the validator
        return Listing(
            id=self.id,
            symbol=self.symbol,
            name=self.name or self.id,
            calendar=self.calendar,
            timezone=venue.timezone,
            currency=self.currency or venue.currency,
            offer_price=self.offer_price,
            shares_outstanding=self.shares_outstanding,
            shares_basis=self.shares_basis,
            listed_on=self.listed_on,
            rules=tuple(rule.to_rule(venue.timezone) for rule in self.rules),
        )


class ListingsFile(_Strict):
    """The whole listings file."""

    listings: list[ListingConfig] = []


class Listings:
    """The validated listings of a config file, by id, in file order."""

    def __init__(self, path: Path, configs: Sequence[ListingConfig]) -> None:
        self.path = path
        self.configs = {config.id: config for config in configs}
        self.by_id = {config.id: config.to_listing() for config in configs}

    def get(self, listing_id: str) -> Listing:
        """The listing with this id; a ConfigError naming the known ones otherwise."""
        try:
            return self.by_id[listing_id]
        except KeyError:
            known = ", ".join(self.by_id) or "none"
            raise ConfigError(
                f"{self.path}: no listing {listing_id!r} (listings: {known})"
            ) from None


def format_number(value: float) -> str:
    """A number as written by a person: 50 not 50.0, 19.6 not 19.600000."""
    number = float(value)
    return str(int(number)) if number.is_integer() and abs(number) < 1e16 else repr(number)


def load_listings(path: Path) -> Listings:
    """Load and validate a listings file; every problem is one line naming the file and key."""
    data = _read_toml(path)
    try:
        parsed = ListingsFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(
            f"{path}: invalid listings config", [_describe(path, data, err) for err in exc.errors()]
        ) from None
    problems = _semantic_problems(path, parsed)
    if problems:
        raise ConfigError(f"{path}: invalid listings config", problems)
    return Listings(path, parsed.listings)


def _semantic_problems(path: Path, parsed: ListingsFile) -> list[str]:
    problems: list[str] = []
    seen: set[str] = set()
    for config in parsed.listings:
        where = f"{path}: listing {config.id!r}"
        if config.id in seen:
            problems.append(f"{where}: duplicate listing id")
        seen.add(config.id)
        listing = config.to_listing()
        rule_ids: set[str] = set()
        for rule in listing.rules:
            if rule.id in rule_ids:
                problems.append(f"{where}: rules: duplicate rule id {rule.id!r}")
            rule_ids.add(rule.id)
            problem = _threshold_problem(rule, listing)
            if problem is not None:
                problems.append(f"{where}: rule {rule.id!r}: threshold: {problem}")
    return problems


def _threshold_problem(rule: Rule, listing: Listing) -> str | None:
    """Why a rule's threshold gives no price the tracker can hold, or None when it does."""
    given = f"{format_number(rule.threshold)} {rule.kind}"
    if rule.daily:  # its level moves with the day's open or previous close
        if -100 < rule.threshold <= GAIN_PCT_MAX:
            return None
        return f"{given} is not a gain above -100% and at most {GAIN_PCT_MAX:,.0f}%"
    raw = rule.raw_level(listing.offer_price, listing.shares_outstanding)
    if raw <= 0:
        return f"level is not positive ({given} gives a price of 0 or less)"
    problem = price_problem(raw)
    return None if problem is None else f"level {raw:g} {problem} ({given})"


def _describe(path: Path, data: Any, error: Mapping[str, Any]) -> str:
    """One line for a pydantic error: file, listing id, rule, key and what is wrong."""
    loc = list(error["loc"])
    where = [str(path)]
    if len(loc) >= 2 and loc[0] == "listings" and isinstance(loc[1], int):
        listing = _index(data.get("listings"), loc[1])
        where.append(f"listing {_label(listing, loc[1])}")
        loc = loc[2:]
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            rule = _index(listing.get("rules") if isinstance(listing, dict) else None, loc[1])
            where.append(f"rule {_label(rule, loc[1])}")
            loc = loc[2:]
        elif len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
            where.append(f"source #{loc[1] + 1}")
            loc = loc[2:]
    key = ".".join(str(part) for part in loc) or "(table)"
    kind = error["type"]
    if kind == "extra_forbidden":
        reason = "unknown key"
    elif kind == "missing":
        reason = "missing required key"
    else:
        reason = str(error["msg"]).removeprefix("Value error, ")
        if "input" in error and kind not in {"model_type", "dict_type"}:
            reason += f", got {_given(mask_value(error['input'], str(loc[-1]) if loc else ''))}"
    return f"{': '.join(where)}: {key}: {reason}"


def _given(value: Any) -> str:
    """A value as the file wrote it: ``9999-12-31``, not ``datetime.date(9999, 12, 31)``."""
    return value.isoformat() if isinstance(value, dt.date) else repr(value)


def _index(items: Any, i: int) -> Any:
    return items[i] if isinstance(items, list) and i < len(items) else None


def _label(table: Any, i: int) -> str:
    if isinstance(table, dict) and isinstance(table.get("id"), str):
        return repr(table["id"])
    return f"#{i + 1}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def listings_path(flag: str | None) -> Path:
    """The listings file: the flag, else ``TRACKER_CONFIG``, else ``config/listings.toml``."""
    if flag:
        return Path(flag)
    env = os.environ.get("TRACKER_CONFIG")
    if env:
        return Path(env)
    if not DEFAULT_LISTINGS.exists():
        raise ConfigError(
            f"{DEFAULT_LISTINGS}: no such file; pass --config PATH or set TRACKER_CONFIG"
        )
    return DEFAULT_LISTINGS


class ReplaySettings(BaseModel):
    """How replays run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_size: Annotated[int, Field(gt=0, le=10_000_000)] = 100_000  # rows read at a time


class Settings(BaseSettings):
    """Where the tracker keeps its data and how it speaks."""

    model_config = SettingsConfigDict(
        env_prefix="TRACKER_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    db_url: str = "sqlite:///tracker.db"
    alert_log: Path = Path("alerts.jsonl")
    language: Literal["en", "zh-Hans"] = "en"
    replay: ReplaySettings = ReplaySettings()
    sinks: SinksSettings = SinksSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls)


def settings_path() -> Path | None:
    """The settings file: ``TRACKER_SETTINGS`` (must exist), else ``config/tracker.toml`` if any."""
    env = os.environ.get("TRACKER_SETTINGS")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(f"{path}: no such file (named by TRACKER_SETTINGS)")
        return path
    return DEFAULT_SETTINGS if DEFAULT_SETTINGS.is_file() else None


def load_settings(**flags: Any) -> Settings:
    """Settings from defaults < file < ``TRACKER_*`` environment < flags (None flags ignored)."""
    path = settings_path()
    if path is not None:
        data = _read_toml(path)  # a clear error for a missing or broken file
        for keys in SECRET_KEYS:
            section: Any = data
            for key in keys:
                section = section.get(key) if isinstance(section, dict) else None
            if section is not None:
                variable = "TRACKER_" + "__".join(keys).upper()
                raise ConfigError(
                    f"{path}: {'.'.join(keys)}: secrets come from the environment only; "
                    f"set {variable} instead"
                )

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    overrides = {key: value for key, value in flags.items() if value is not None}
    try:
        return FileSettings(**overrides)
    except ValidationError as exc:
        problems = [_settings_problem(err, path, overrides) for err in exc.errors()]
        raise ConfigError("invalid settings", problems) from None


def _settings_problem(error: Mapping[str, Any], path: Path | None, flags: Mapping[str, Any]) -> str:
    """One line naming where a bad setting came from: a flag, a variable or the file."""
    loc = [str(part) for part in error["loc"]]
    variable = "TRACKER_" + "__".join(loc).upper()
    if loc and loc[0] in flags:
        origin = "--" + {"db_url": "db"}.get(loc[0], loc[0].replace("_", "-"))
    elif variable in os.environ:
        origin = variable
    else:
        origin = f"{path}: {'.'.join(loc)}" if path else ".".join(loc)
    given = mask_value(error.get("input"), loc[-1] if loc else "")
    return f"{origin}: {error['msg']}, got {given!r}"
