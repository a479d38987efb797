"""Time zone and currency of every exchange_calendars calendar code.

Kept as a table so loading a config and replaying a tape never import
exchange_calendars (slow to import); a test checks the table against it.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple


class Exchange(NamedTuple):
    """An exchange's time zone and the currency its listings trade in."""

    timezone: str
    currency: str


EXCHANGES: dict[str, Exchange] = {
    "24/5": Exchange("UTC", "USD"),
    "24/7": Exchange("UTC", "USD"),
    "AIXK": Exchange("Asia/Almaty", "KZT"),
    "ASEX": Exchange("Europe/Athens", "EUR"),
    "BVMF": Exchange("America/Sao_Paulo", "BRL"),
    "CMES": Exchange("America/Chicago", "USD"),
    "IEPA": Exchange("America/New_York", "USD"),
    "XAMS": Exchange("Europe/Amsterdam", "EUR"),
    "XASX": Exchange("Australia/Sydney", "AUD"),
    "XBDA": Exchange("Atlantic/Bermuda", "BMD"),
    "XBEL": Exchange("Europe/Belgrade", "RSD"),
    "XBKK": Exchange("Asia/Bangkok", "THB"),
    "XBOG": Exchange("America/New_York", "COP"),
    "XBOM": Exchange("Asia/Kolkata", "INR"),
    "XBRA": Exchange("Europe/Bratislava", "EUR"),
    "XBRU": Exchange("Europe/Brussels", "EUR"),
    "XBSE": Exchange("Europe/Bucharest", "RON"),
    "XBUD": Exchange("Europe/Budapest", "HUF"),
    "XBUE": Exchange("America/Argentina/Buenos_Aires", "ARS"),
    "XCBF": Exchange("America/Chicago", "USD"),
    "XCSE": Exchange("Europe/Copenhagen", "DKK"),
    "XCYS": Exchange("Asia/Nicosia", "EUR"),
    "XDUB": Exchange("Europe/Dublin", "EUR"),
    "XDUS": Exchange("Europe/Brussels", "EUR"),
    "XEEE": Exchange("Europe/Berlin", "EUR"),
    "XETR": Exchange("Europe/Berlin", "EUR"),
    "XEUR": Exchange("Europe/Berlin", "EUR"),
    "XFRA": Exchange("Europe/Berlin", "EUR"),
    "XHAM": Exchange("Europe/Brussels", "EUR"),
    "XHEL": Exchange("Europe/Helsinki", "EUR"),
    "XHKG": Exchange("Asia/Hong_Kong", "HKD"),
    "XICE": Exchange("Atlantic/Reykjavik", "ISK"),
    "XIDX": Exchange("Asia/Jakarta", "IDR"),
    "XIST": Exchange("Europe/Istanbul", "TRY"),
    "XJSE": Exchange("Africa/Johannesburg", "ZAR"),
    "XKAR": Exchange("Asia/Karachi", "PKR"),
    "XKLS": Exchange("Asia/Kuala_Lumpur", "MYR"),
    "XKRX": Exchange("Asia/Seoul", "KRW"),
    "XLIM": Exchange("America/Lima", "PEN"),
    "XLIS": Exchange("Europe/Lisbon", "EUR"),
    "XLIT": Exchange("Europe/Vilnius", "EUR"),
    "XLJU": Exchange("Europe/Ljubljana", "EUR"),
    "XLON": Exchange("Europe/London", "GBP"),
    "XLUX": Exchange("Europe/Luxembourg", "EUR"),
    "XMAD": Exchange("Europe/Madrid", "EUR"),
    "XMEX": Exchange("America/Mexico_City", "MXN"),
    "XMIL": Exchange("Europe/Rome", "EUR"),
    "XMOS": Exchange("Europe/Moscow", "RUB"),
    "XNYS": Exchange("America/New_York", "USD"),
    "XNZE": Exchange("Pacific/Auckland", "NZD"),
    "XOSL": Exchange("Europe/Oslo", "NOK"),
    "XPAR": Exchange("Europe/Paris", "EUR"),
    "XPHS": Exchange("Asia/Manila", "PHP"),
    "XPRA": Exchange("Europe/Prague", "CZK"),
    "XRIS": Exchange("Europe/Riga", "EUR"),
    "XSAU": Exchange("Asia/Riyadh", "SAR"),
    "XSES": Exchange("Asia/Singapore", "SGD"),
    "XSGO": Exchange("America/Santiago", "CLP"),
    "XSHG": Exchange("Asia/Shanghai", "CNY"),
    "XSTO": Exchange("Europe/Stockholm", "SEK"),
    "XSTU": Exchange("Europe/Berlin", "EUR"),
    "XSWX": Exchange("Europe/Zurich", "CHF"),
    "XTAE": Exchange("Asia/Tel_Aviv", "ILS"),
    "XTAI": Exchange("Asia/Taipei", "TWD"),
    "XTAL": Exchange("Europe/Tallinn", "EUR"),
    "XTKS": Exchange("Asia/Tokyo", "JPY"),
    "XTSE": Exchange("America/Toronto", "CAD"),
    "XWAR": Exchange("Europe/Warsaw", "PLN"),
    "XWBO": Exchange("Europe/Vienna", "EUR"),
    "XZAG": Exchange("Europe/Zagreb", "EUR"),
    "us_futures": Exchange("America/New_York", "USD"),
}

# exchange_calendars' aliases (``HKEX`` is ``XHKG``), accepted wherever a code is.
ALIASES: dict[str, str] = {
    "NYSE": "XNYS",
    "NASDAQ": "XNYS",
    "BATS": "XNYS",
    "XNAS": "XNYS",
    "ARCX": "XNYS",
    "OOTC": "XNYS",
    "XASE": "XNYS",
    "XTSX": "XTSE",
    "FWB": "XFRA",
    "LSE": "XLON",
    "TSX": "XTSE",
    "BMF": "BVMF",
    "CME": "CMES",
    "CBOT": "CMES",
    "COMEX": "CMES",
    "NYMEX": "CMES",
    "ICE": "IEPA",
    "ICEUS": "IEPA",
    "NYFE": "IEPA",
    "CFE": "XCBF",
    "JKT": "XIDX",
    "SIX": "XSWX",
    "JPX": "XTKS",
    "ASX": "XASX",
    "HKEX": "XHKG",
    "OSE": "XOSL",
    "BSE": "XBOM",
    "SSE": "XSHG",
    "TASE": "XTAE",
    "BVB": "XBSE",
    "LUXSE": "XLUX",
}


def exchange(code: str) -> Exchange | None:
    """The exchange a calendar code (or alias) names, or None when unknown."""
    return EXCHANGES.get(ALIASES.get(code, code))


class RegularOpen(NamedTuple):
    """When continuous trading regularly starts (exchange local time), and since which date."""

    since: dt.date | None  # None: for as long as the calendar knows
    time: dt.time


# The regular open of each calendar whose sessions start on their own date and which has no
# special (late or early) opens in exchange_calendars: enough to tell a day's opening print
# from a later first trade without importing it (``tracker.markets.calendar.OpeningPrints``). Days
# before ``since``, and the calendars left out, are asked of exchange_calendars itself.
REGULAR_OPENS: dict[str, RegularOpen] = {
    "24/5": RegularOpen(None, dt.time(0, 0)),
    "24/7": RegularOpen(None, dt.time(0, 0)),
    "AIXK": RegularOpen(None, dt.time(11, 0)),
    "XAMS": RegularOpen(None, dt.time(9, 0)),
    "XASX": RegularOpen(None, dt.time(10, 0)),
    "XBDA": RegularOpen(None, dt.time(9, 0)),
    "XBKK": RegularOpen(None, dt.time(10, 0)),
    "XBOG": RegularOpen(None, dt.time(9, 30)),
    "XBOM": RegularOpen(None, dt.time(9, 15)),
    "XBRA": RegularOpen(None, dt.time(11, 0)),
    "XBRU": RegularOpen(None, dt.time(9, 0)),
    "XBUD": RegularOpen(None, dt.time(9, 0)),
    "XBUE": RegularOpen(None, dt.time(11, 0)),
    "XCBF": RegularOpen(None, dt.time(8, 30)),
    "XCSE": RegularOpen(None, dt.time(9, 0)),
    "XDUB": RegularOpen(None, dt.time(8, 0)),
    "XDUS": RegularOpen(None, dt.time(8, 0)),
    "XEEE": RegularOpen(None, dt.time(8, 0)),
    "XETR": RegularOpen(None, dt.time(9, 0)),
    "XEUR": RegularOpen(None, dt.time(8, 0)),
    "XFRA": RegularOpen(None, dt.time(9, 0)),
    "XHAM": RegularOpen(None, dt.time(8, 0)),
    "XHEL": RegularOpen(None, dt.time(10, 0)),
    "XHKG": RegularOpen(dt.date(2011, 3, 7), dt.time(9, 30)),
    "XICE": RegularOpen(None, dt.time(9, 30)),
    "XIDX": RegularOpen(None, dt.time(9, 0)),
    "XIST": RegularOpen(None, dt.time(10, 0)),
    "XJSE": RegularOpen(None, dt.time(9, 0)),
    "XKAR": RegularOpen(None, dt.time(9, 32)),
    "XKLS": RegularOpen(None, dt.time(9, 0)),
    "XKRX": RegularOpen(dt.date(1998, 12, 7), dt.time(9, 0)),
    "XLIM": RegularOpen(None, dt.time(9, 0)),
    "XLIS": RegularOpen(None, dt.time(8, 0)),
    "XLIT": RegularOpen(None, dt.time(10, 0)),
    "XLJU": RegularOpen(None, dt.time(9, 15)),
    "XLON": RegularOpen(None, dt.time(8, 0)),
    "XLUX": RegularOpen(None, dt.time(9, 0)),
    "XMAD": RegularOpen(None, dt.time(9, 0)),
    "XMEX": RegularOpen(None, dt.time(8, 30)),
    "XMIL": RegularOpen(None, dt.time(9, 0)),
    "XMOS": RegularOpen(None, dt.time(10, 0)),
    "XNYS": RegularOpen(None, dt.time(9, 30)),
    "XNZE": RegularOpen(None, dt.time(10, 0)),
    "XOSL": RegularOpen(None, dt.time(9, 0)),
    "XPAR": RegularOpen(None, dt.time(9, 0)),
    "XPHS": RegularOpen(None, dt.time(9, 30)),
    "XPRA": RegularOpen(None, dt.time(9, 0)),
    "XRIS": RegularOpen(None, dt.time(10, 0)),
    "XSAU": RegularOpen(None, dt.time(10, 0)),
    "XSES": RegularOpen(None, dt.time(9, 0)),
    "XSGO": RegularOpen(None, dt.time(9, 30)),
    "XSHG": RegularOpen(None, dt.time(9, 30)),
    "XSTO": RegularOpen(None, dt.time(9, 0)),
    "XSTU": RegularOpen(None, dt.time(7, 30)),
    "XSWX": RegularOpen(None, dt.time(9, 0)),
    "XTAI": RegularOpen(None, dt.time(9, 0)),
    "XTAL": RegularOpen(None, dt.time(10, 0)),
    "XTKS": RegularOpen(None, dt.time(9, 0)),
    "XTSE": RegularOpen(None, dt.time(9, 30)),
    "XWAR": RegularOpen(None, dt.time(9, 0)),
    "XWBO": RegularOpen(None, dt.time(9, 0)),
    "XZAG": RegularOpen(None, dt.time(9, 0)),
}
