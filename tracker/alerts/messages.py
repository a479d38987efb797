"""One human sentence per alert, in English or Chinese (``zh-Hans``)."""

from __future__ import annotations

import datetime as dt

from tracker.core.model import Direction, Kind, Listing, Reference, ThresholdCrossed

_SYMBOLS = {"HKD": "HK$", "USD": "US$", "CNY": "CN¥", "GBP": "£", "EUR": "€", "JPY": "¥"}
_VERSUS = {Reference.OFFER: "offer", Reference.OPEN: "open", Reference.PREV_CLOSE: "prev close"}
_ZH_VERSUS = {Reference.OFFER: "招股价", Reference.OPEN: "开盘价", Reference.PREV_CLOSE: "前收市价"}
_ZH_CURRENCY = {
    "HKD": "港元",
    "USD": "美元",
    "CNY": "元",
    "JPY": "日元",
    "EUR": "欧元",
    "GBP": "英镑",
}


def money(listing: Listing, amount: float, decimals: int = 2) -> str:
    """A price with its currency: HK$37.86."""
    symbol = _SYMBOLS.get(listing.currency, f"{listing.currency} ")
    return f"{symbol}{amount:,.{decimals}f}"


def big_money(listing: Listing, amount: float, decimals: int | None = None) -> str:
    """A large amount, short: HK$100bn, HK$1.5tn, HK$850m (fixed decimals when given)."""
    symbol = _SYMBOLS.get(listing.currency, f"{listing.currency} ")
    for unit, size in (("tn", 1e12), ("bn", 1e9), ("m", 1e6)):
        if abs(amount) >= size:
            number = (
                f"{amount / size:,.4g}" if decimals is None else f"{amount / size:,.{decimals}f}"
            )
            return f"{symbol}{number}{unit}"
    return f"{symbol}{amount:,.0f}"


def _zh_big_money(listing: Listing, amount: float) -> str:
    unit = _ZH_CURRENCY.get(listing.currency, listing.currency)
    for name, size in (("万亿", 1e12), ("亿", 1e8), ("万", 1e4)):
        if abs(amount) >= size:
            return f"{amount / size:,.4g}{name}{unit}"
    return f"{amount:,.0f}{unit}"


def _signed(value: float) -> str:
    return f"{value:+.1f}%"


def message(
    listing: Listing,
    alert: ThresholdCrossed,
    local_time: dt.datetime,
    gain: float,
    cap: int,
    language: str = "en",
    late: bool = False,
) -> str:
    """The alert as one sentence in the chosen language."""
    if language == "zh-Hans":
        return _message_zh(listing, alert, local_time, gain, cap, late)
    rule, up = alert.rule, alert.rule.direction is Direction.UP
    if rule.kind is Kind.GAIN_PCT:
        versus = _VERSUS[rule.reference]
        if alert.base_price is not None:
            versus += f" {money(listing, alert.base_price)}"
        what = f"{'reached' if up else 'fell below'} {rule.threshold:+g}% vs {versus}"
    elif rule.kind is Kind.MARKET_CAP:
        what = (
            f"market cap {'crossed' if up else 'fell below'} {big_money(listing, rule.threshold)}"
        )
    else:
        what = f"{'reached' if up else 'fell below'} {money(listing, rule.threshold)}"
    clock = f"{local_time:%H:%M:%S} {local_time.tzname()}"
    text = f"{listing.name} ({listing.symbol}) {what}: {money(listing, alert.tick.price)}, "
    text += f"{_signed(gain)} vs offer, {clock}"
    if rule.kind is Kind.MARKET_CAP:
        basis = f"; {listing.shares_basis}" if listing.shares_basis else ""
        shares = f"{listing.shares_outstanding:,} shares"
        text += f", market cap {big_money(listing, cap)} on {shares}{basis}"
    if alert.gap:
        text += ", at the day's first trade"
    if alert.inferred:
        text += f", from the day's {'high' if up else 'low'} between two polls"
    if late:
        text += " (late: the tracker was not polling when it happened)"
    return text


def _message_zh(
    listing: Listing,
    alert: ThresholdCrossed,
    local_time: dt.datetime,
    gain: float,
    cap: int,
    late: bool,
) -> str:
    rule, up = alert.rule, alert.rule.direction is Direction.UP
    unit = _ZH_CURRENCY.get(listing.currency, listing.currency)
    if rule.kind is Kind.GAIN_PCT:
        what = f"较{_ZH_VERSUS[rule.reference]}{'升至' if up else '跌破'}{rule.threshold:+g}%"
    elif rule.kind is Kind.MARKET_CAP:
        what = f"市值{'突破' if up else '跌破'}{_zh_big_money(listing, rule.threshold)}"
    else:
        what = f"股价{'升至' if up else '跌破'}{rule.threshold:g}{unit}"
    text = f"{listing.name}（{listing.symbol}）{what}：{alert.tick.price:.2f}{unit}，"
    text += f"较招股价{_signed(gain)}，{local_time:%H:%M:%S} {local_time.tzname()}"
    if rule.kind is Kind.MARKET_CAP:
        basis = f"，{listing.shares_basis}" if listing.shares_basis else ""
        text += (
            f"，市值{_zh_big_money(listing, cap)}（按{listing.shares_outstanding:,}股计{basis}）"
        )
    if alert.gap:
        text += "，为当日首笔成交"
    if alert.inferred:
        text += f"，由两次轮询之间的当日{'最高' if up else '最低'}价推断"
    if late:
        text += "（延迟：发生时追踪器未在轮询）"
    return text + "。"


def source_message(
    listing: Listing,
    event: str,
    reason: str,
    minutes: float,
    language: str,
    provider: str = "",
    previous: str | None = None,
) -> str:
    """A notice about a listing's quotes: its source down or back, switched, stale or fresh."""
    name = (
        f"{listing.name}（{listing.symbol}）"
        if language == "zh-Hans"
        else (f"{listing.name} ({listing.symbol})")
    )
    if language == "zh-Hans":
        zh = {
            "down": f"{name}行情源已中断{minutes:.0f}分钟：{reason}。",
            "back": f"{name}行情源已恢复，中断约{minutes:.0f}分钟。",
            "switched": f"{name}行情源由{previous}切换至{provider}：{reason}。",
            "stale": f"{name}行情仍停留在较早交易日（{reason}），今日未有成交。",
            "fresh": f"{name}今日已有成交，行情恢复更新（{provider}）。",
        }
        return zh[event]
    en = {
        "down": f"{name} quote source down for {minutes:.0f} min: {reason}",
        "back": f"{name} quote source back after {minutes:.0f} min",
        "switched": f"{name} quotes now from {provider} instead of {previous}: {reason}",
        "stale": f"{name} quotes are of an earlier trading day ({reason}): nothing traded today",
        "fresh": f"{name} trades again today ({provider})",
    }
    return en[event]
