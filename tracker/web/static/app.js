// The live page: one listing's day, updated as ticks and alerts are committed.
//
// The chart is TradingView's Lightweight Charts (vendor/, Apache-2.0). Its history comes as
// bars (GET /api/listings/ID/bars, 1 s bars: the line looks like every tick, and a day of a
// million trades is ~22,000 points); streamed ticks are then folded into the last bar with
// series.update, never a full setData. Live updates come as server-sent events
// (/api/events); without them (or with ?transport=poll) the page polls the JSON API.
// Page parameters: ?listing=ID, ?date=YYYY-MM-DD (a stored day), ?transport=poll.
//
// The chart's time axis is index-based (Lightweight Charts draws one slot a point): the
// day's session is laid out as slots of one bar each (an invisible series), so the axis is the
// session's trading time and the calendar's closed breaks (lunch) take no room at all;
// a dashed line, labelled, marks each cut. The library works in UTC seconds: each time is
// shifted by the exchange's offset, so its labels read in exchange time.
"use strict";

const LWC = window.LightweightCharts;
const POLL_MS = 1000;
const SSE_FAILURES_BEFORE_POLLING = 3;
const LIVE_FRESH_MS = 120_000; // ticks streamed this recently: the day shown is being written
const OPENING_GRACE_US = 120_000_000; // tracker.markets.calendar.OPENING_GRACE_US
// Minutes of closing auction at the end of a day's last span (tracker.markets.calendar._AUCTIONS):
// the session payload has spans and breaks but no auction bounds (see sessionPeriods).
const CLOSING_AUCTION_MIN = { XHKG: 10 };
const DAEMON_CHECK_MS = 10_000; // how often /api/listings is asked whether a daemon runs
const MAX_SLOTS = 200_000; // slots a day at most (a 24-hour market at 1 s: 5 s bars)
const MARKER_TEXT_LIMIT = 40; // more marker groups than this: only combined markers keep text
const LABEL_PX = 18; // a price-axis label's height
const NARROW_PX = 480; // a plot narrower than this (a phone's) gets the short labels
const STORAGE_KEY = "tracker.alertSound";
const COLORS = {
  price: "#1f5fa8",
  offer: "#555555",
  level: "#c77c02",
  up: "#137333",
  down: "#b3261e",
  volumeUp: "rgba(19, 115, 51, 0.35)",
  volumeDown: "rgba(179, 38, 30, 0.35)",
  grid: "#eef0f3",
  text: "#5f6b7a",
};
const PHASES = {
  pre_open: "pre-open auction",
  continuous: "continuous trading",
  lunch: "lunch break",
  closing_auction: "closing auction",
  closed: "closed",
  stored: "stored day",
};
const params = new URLSearchParams(location.search);

const state = {
  listings: [],
  listing: null,
  session: null, // the shown day's calendar: trading spans, closed breaks, opening deadline
  todaySession: null, // today's (the wall clock's exchange date), for the status
  pinnedDay: params.get("date"),
  day: null,
  offset: 0, // seconds east of UTC of the day's exchange time
  interval: 1, // seconds a bar
  barsApi: true, // false once /bars answered 404: history from ticks instead
  bars: [], // the day's bars in time order (see barFromApi)
  stats: null, // the day's figures, kept as bars come (see addToStats)
  historyLoaded: false,
  pending: [], // ticks streamed before the history (or, after a reconnect, the catch-up) came
  buffering: false, // the event stream (re)opened: its ticks wait for the catch-up (pending)
  streamGen: 0, // how many times the event stream opened
  catchUpAgain: null, // a catch-up asked for while one runs: it runs next
  halted: false, // the server refused the page's day (a 4xx): nothing more is asked
  alerts: [],
  alertIds: new Set(),
  groups: new Map(), // rule -> its alerts' list item (one a rule: count and last fire)
  loaded: false, // the first catch-up is done: alerts from now on are "fresh"
  liveAt: 0, // wall ms of the last tick streamed or polled
  daemonRunning: false, // a daemon writes the database (its heartbeat is fresh)
  daemonCheckedAt: 0, // Date.now() of the last look at /api/listings' daemon
  daemonChecking: false,
  transport: params.get("transport") === "poll" || !window.EventSource ? "poll" : "sse",
  link: "connecting",
  source: null,
  failures: 0,
  catchingUp: null,
  renderQueued: false,
  markersDirty: false,
  userMoved: false, // the reader zoomed or panned: keep the view
  slots: [], // the time axis's slots (sessionSlots)
  volumeCap: null, // the volume scale's top (capVolume)
  volumeCapBars: 0,
  narrow: false, // a phone's chart: shorter labels on the axis, no text on the markers
  dirtyGroups: new Map(), // rule -> published_at: alert list items to redraw
  unannounced: [], // new alerts for the next sound and notification (one a batch)
  chart: null,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

class HttpError extends Error {
  constructor(url, status, reason) {
    super(`${url}: HTTP ${status}${reason ? `: ${reason}` : ""}`);
    this.status = status;
    this.reason = reason;
  }
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) {
    let reason = "";
    try {
      reason = (await response.json()).error || "";
    } catch (error) {
      reason = "";
    }
    throw new HttpError(url, response.status, reason);
  }
  return response.json();
}

const listingUrl = (suffix = "") => `/api/listings/${encodeURIComponent(state.listing.id)}${suffix}`;

// ---- formatting ---------------------------------------------------------------------------

function currencyPrefix() {
  const cur = state.listing.currency;
  return cur === "HKD" ? "HK$" : cur === "USD" ? "US$" : `${cur} `;
}

function priceDigits() {
  return state.listing && state.listing.offer_price < 1 ? 3 : 2;
}

function money(value, digits = priceDigits()) {
  return currencyPrefix() + value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function bigMoney(value) {
  const prefix = currencyPrefix();
  if (Math.abs(value) >= 1e9) return `${prefix}${(value / 1e9).toFixed(2)}bn`;
  if (Math.abs(value) >= 1e6) return `${prefix}${(value / 1e6).toFixed(1)}m`;
  return prefix + Math.round(value).toLocaleString("en-US");
}

function shortMoney(value) {
  const prefix = currencyPrefix();
  if (Math.abs(value) >= 1e9) return `${prefix}${+(value / 1e9).toFixed(1)}bn`;
  if (Math.abs(value) >= 1e6) return `${prefix}${+(value / 1e6).toFixed(1)}m`;
  return prefix + value.toLocaleString("en-US");
}

function pct(value) {
  return `${value >= 0 ? "+" : ""}${value.toFixed(2)}%`;
}

const count = (value) => Math.round(value).toLocaleString("en-US");
const gainOf = (price) => (price / state.listing.offer_price - 1) * 100;
const capOf = (price) => price * state.listing.shares_outstanding;
const clock = (iso) => iso.slice(11, 19); // exchange time: the records carry the exchange's offset
const dayOf = (iso) => iso.slice(0, 10);

// ---- exchange time ------------------------------------------------------------------------

// Seconds east of UTC of a zone at an instant (Intl's "GMT+08:00").
function zoneOffset(zone, ms) {
  try {
    const parts = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" }).formatToParts(new Date(ms));
    const name = (parts.find((part) => part.type === "timeZoneName") || {}).value || "";
    const match = /([+-])(\d\d):(\d\d)/.exec(name);
    return match ? (match[1] === "-" ? -1 : 1) * (Number(match[2]) * 3600 + Number(match[3]) * 60) : 0;
  } catch (error) {
    return 0;
  }
}

function zoneName(offset) {
  const sign = offset < 0 ? "-" : "+";
  const minutes = Math.abs(offset) / 60;
  return `UTC${sign}${String(Math.floor(minutes / 60)).padStart(2, "0")}:${String(minutes % 60).padStart(2, "0")}`;
}

// The exchange's date at an instant (epoch ms).
function exchangeDate(ms) {
  const offset = zoneOffset(state.listing.timezone, ms);
  return new Date(ms + offset * 1000).toISOString().slice(0, 10);
}

// The chart's time of an instant: UTC seconds shifted to exchange time, floored to its bar.
function chartTime(tsUs) {
  const start = Math.floor(tsUs / (state.interval * 1e6)) * state.interval;
  return start + state.offset;
}

const usOfChartTime = (time) => (time - state.offset) * 1e6;
const hhmmss = (time) => new Date(time * 1000).toISOString().slice(11, 19);
const exchangeClock = (tsUs) => hhmmss(Math.floor(tsUs / 1e6) + state.offset);

// ---- the day's calendar -------------------------------------------------------------------

// The day's phases as [{start_us, end_us, phase}]: the API's own periods when it gives them;
// else derived from its spans and breaks. The pre-open auction runs from the first span's
// start to the continuous open (opening_until less its grace), the closing auction is the
// last span's last minutes (CLOSING_AUCTION_MIN, as tracker.markets.calendar adds them), and the
// rest of the spans is continuous trading.
function sessionPeriods(session) {
  if (!session) return [];
  if (Array.isArray(session.periods)) return session.periods;
  const periods = [];
  const spans = session.spans || [];
  const continuousFrom = session.opening_until_us == null ? null : session.opening_until_us - OPENING_GRACE_US;
  const closing = (CLOSING_AUCTION_MIN[state.listing.calendar] || 0) * 60e6;
  spans.forEach((span, i) => {
    let start = span.start_us;
    let end = span.end_us;
    if (i === 0 && continuousFrom !== null && continuousFrom > start && continuousFrom < end) {
      periods.push({ start_us: start, end_us: continuousFrom, phase: "pre_open" });
      start = continuousFrom;
    }
    const last = i === spans.length - 1;
    if (last && closing && end - closing > start) {
      periods.push({ start_us: start, end_us: end - closing, phase: "continuous" });
      periods.push({ start_us: end - closing, end_us: end, phase: "closing_auction" });
    } else {
      periods.push({ start_us: start, end_us: end, phase: "continuous" });
    }
  });
  for (const b of session.breaks || []) periods.push({ start_us: b.start_us, end_us: b.end_us, phase: b.phase });
  return periods.sort((a, b) => a.start_us - b.start_us);
}

function phaseAt(session, tsUs) {
  const period = sessionPeriods(session).find((p) => p.start_us <= tsUs && tsUs < p.end_us);
  return period ? period.phase : "closed";
}

function dayBreaks() {
  const session = state.session;
  return session && session.date === state.day ? session.breaks || [] : [];
}

// The time axis: one slot a bar through each trading span of the day.
function sessionSlots() {
  const session = state.session;
  if (!session || session.date !== state.day) return [];
  const step = state.interval;
  const slots = [];
  for (const span of session.spans || []) {
    const first = Math.ceil(span.start_us / 1e6 / step) * step;
    for (let t = first; t * 1e6 < span.end_us && slots.length < MAX_SLOTS; t += step) {
      slots.push({ time: t + state.offset, value: 0 });
    }
  }
  return slots;
}

// ---- the day's bars -----------------------------------------------------------------------

function barFromApi(bar) {
  return {
    t: chartTime(bar.ts_us),
    start_us: bar.ts_us,
    open: bar.open,
    high: bar.high,
    low: bar.low,
    close: bar.close,
    volume: bar.volume,
    turnover: bar.turnover,
    trades: bar.trades,
    last_ts_us: bar.last_ts_us,
    last_seq: bar.last_seq,
  };
}

// A tick's part of a bar's turnover, as the server's bars count it: only a tick with a
// volume has one, at its price when the source gave no turnover (so turnover / volume is
// the VWAP the report gives).
function tickTurnover(tick) {
  if (tick.volume == null) return null;
  return tick.turnover != null ? tick.turnover : tick.price * tick.volume;
}

function newBar(tick) {
  const start = Math.floor(tick.ts_us / (state.interval * 1e6)) * state.interval * 1e6;
  return {
    t: chartTime(tick.ts_us),
    start_us: start,
    open: tick.price,
    high: tick.price,
    low: tick.price,
    close: tick.price,
    volume: tick.volume,
    turnover: tickTurnover(tick),
    trades: 1,
    last_ts_us: tick.ts_us,
    last_seq: tick.seq,
  };
}

function foldTick(bar, tick) {
  bar.high = Math.max(bar.high, tick.price);
  bar.low = Math.min(bar.low, tick.price);
  bar.close = tick.price;
  if (tick.volume != null) bar.volume = (bar.volume || 0) + tick.volume;
  const turnover = tickTurnover(tick);
  if (turnover != null) bar.turnover = (bar.turnover || 0) + turnover;
  bar.trades += 1;
  bar.last_ts_us = tick.ts_us;
  bar.last_seq = tick.seq;
}

// Ticks in (ts_us, seq) order as bars (history from /ticks, when the server has no /bars).
function barsFromTicks(ticks) {
  const bars = [];
  for (const tick of ticks) {
    const last = bars[bars.length - 1];
    if (last && chartTime(tick.ts_us) === last.t) foldTick(last, tick);
    else bars.push(newBar(tick));
  }
  return bars;
}

const lastBar = () => state.bars[state.bars.length - 1];

// Whether a tick is already in the bars: at or before the last bar's last tick.
function counted(tick) {
  const last = lastBar();
  if (!last) return false;
  return tick.ts_us < last.last_ts_us || (tick.ts_us === last.last_ts_us && tick.seq <= last.last_seq);
}

function emptyStats() {
  return { open: null, high: null, low: null, last: null, volume: 0, turnover: 0, priced: 0, trades: 0 };
}

function addToStats(bar, sign = 1) {
  const stats = state.stats;
  if (bar.volume != null) stats.volume += sign * bar.volume;
  if (bar.volume != null && bar.turnover != null) {
    stats.turnover += sign * bar.turnover;
    stats.priced += sign * bar.volume;
  }
  stats.trades += sign * bar.trades;
  if (sign < 0) return;
  if (!stats.open) stats.open = { price: bar.open, ts_us: bar.start_us };
  if (!stats.high || bar.high > stats.high.price) stats.high = { price: bar.high, ts_us: bar.start_us };
  if (!stats.low || bar.low < stats.low.price) stats.low = { price: bar.low, ts_us: bar.start_us };
  stats.last = { price: bar.close, ts_us: bar.last_ts_us };
}

// ---- the chart ----------------------------------------------------------------------------

// Labels on the price axis for the offer and each rule's level: at the level when it is in
// view (the library keeps them from overlapping), pinned to the axis's top or bottom edge
// with an arrow when it is not, so every level stays listed while the axis fits the day.
class LevelLabels {
  constructor(onPlaced) {
    this.views = [];
    this.onPlaced = onPlaced;
    this.series = null;
  }

  attached(param) {
    this.chart = param.chart;
    this.series = param.series;
    this.requestUpdate = param.requestUpdate;
  }

  detached() {
    this.series = null;
  }

  set(levels) {
    this.views = levels.map((level) => new LevelAxisView(level));
    if (this.requestUpdate) this.requestUpdate();
  }

  updateAllViews() {
    if (!this.series) return;
    const height = this.chart.paneSize(0).height;
    const above = [];
    const below = [];
    for (const view of this.views) {
      const y = this.series.priceToCoordinate(view.level.price);
      view.y = y;
      view.fixed = undefined;
      view.side = y === null ? "none" : y < 0 ? "above" : y > height ? "below" : "in";
      if (view.side === "above") above.push(view);
      if (view.side === "below") below.push(view);
    }
    // stacked from the edge: the farthest level at the edge, the nearest next to the view
    above.sort((a, b) => b.level.price - a.level.price);
    below.sort((a, b) => a.level.price - b.level.price);
    above.forEach((view, i) => {
      view.fixed = LABEL_PX / 2 + i * LABEL_PX;
    });
    below.forEach((view, i) => {
      view.fixed = height - LABEL_PX / 2 - i * LABEL_PX;
    });
    this.onPlaced(this.views);
  }

  priceAxisViews() {
    return this.views;
  }
}

class LevelAxisView {
  constructor(level) {
    this.level = level;
    this.y = null;
    this.fixed = undefined;
    this.side = "none";
  }

  coordinate() {
    return this.fixed === undefined && this.y !== null ? this.y : -1e6;
  }

  fixedCoordinate() {
    return this.fixed;
  }

  text() {
    const arrow = this.side === "above" ? "▲ " : this.side === "below" ? "▼ " : "";
    const price = this.level.price.toFixed(priceDigits());
    // on a narrow chart the price alone (its colour tells the offer from a rule)
    return state.narrow ? `${arrow}${price}` : `${arrow}${this.level.label} ${price}`;
  }

  textColor() {
    return "#ffffff";
  }

  backColor() {
    return this.level.color;
  }

  visible() {
    return this.side !== "none";
  }

  tickVisible() {
    return this.side === "in";
  }
}

function createDayChart() {
  const container = $("chart-canvas");
  const digits = priceDigits();
  const chart = LWC.createChart(container, {
    autoSize: true,
    layout: {
      background: { type: "solid", color: "#ffffff" },
      textColor: COLORS.text,
      fontSize: 11,
      fontFamily: getComputedStyle(document.body).fontFamily,
      attributionLogo: false, // the attribution and link are in the footer (see vendor/LICENSE)
    },
    grid: { vertLines: { color: COLORS.grid }, horzLines: { color: COLORS.grid } },
    rightPriceScale: { visible: true, borderVisible: false, scaleMargins: { top: 0.12, bottom: 0.25 } },
    leftPriceScale: { visible: true, borderVisible: false, scaleMargins: { top: 0.12, bottom: 0.25 } },
    timeScale: {
      borderVisible: false,
      timeVisible: true,
      secondsVisible: false,
      minBarSpacing: 0.001, // a whole session of 1 s slots fits any width
      rightOffset: 0,
      fixLeftEdge: true,
      // not fixRightEdge: it holds the view's right edge at the last trade, so the rest of a
      // live session could never be shown
      lockVisibleTimeRangeOnResize: true,
      tickMarkFormatter: (time, type) => {
        const iso = new Date(time * 1000).toISOString();
        if (type === LWC.TickMarkType.TimeWithSeconds) return iso.slice(11, 19);
        if (type === LWC.TickMarkType.Time) return iso.slice(11, 16);
        return iso.slice(0, 10);
      },
    },
    localization: { locale: "en-US", timeFormatter: (time) => hhmmss(time) },
    crosshair: { mode: LWC.CrosshairMode.Normal }, // the tooltip has the values
    // the two price scales stay autoscaled, so the % scale stays aligned with the price's
    handleScale: { axisPressedMouseMove: { time: true, price: false } },
  });
  // the session's slots: an invisible line on a scale of its own. Points, not whitespace:
  // the library keeps the view's right edge at a distance from the last point with a
  // value, so with whitespace slots each new trade would shift the whole session's view
  const session = chart.addSeries(LWC.LineSeries, {
    priceScaleId: "session",
    lineVisible: false,
    pointMarkersVisible: false,
    lastValueVisible: false,
    priceLineVisible: false,
    crosshairMarkerVisible: false,
  });
  const price = chart.addSeries(LWC.LineSeries, {
    color: COLORS.price,
    lineWidth: 2,
    priceFormat: { type: "price", precision: digits, minMove: 10 ** -digits },
    lastValueVisible: true, // the last-price tag
    priceLineVisible: true,
    priceLineStyle: LWC.LineStyle.Dotted,
    lastPriceAnimation: LWC.LastPriceAnimationMode.OnDataUpdate,
    crosshairMarkerRadius: 4,
  });
  // % vs offer on the left: gain is affine in price, so this invisible series, autoscaled
  // on the same bars with the same margins, puts each % label at its price exactly
  const gain = chart.addSeries(LWC.LineSeries, {
    priceScaleId: "left",
    lineVisible: false,
    lastValueVisible: false,
    priceLineVisible: false,
    crosshairMarkerVisible: false,
    priceFormat: { type: "custom", minMove: 0.01, formatter: (value) => `${value >= 0 ? "+" : ""}${value.toFixed(Math.abs(value) >= 100 ? 0 : 1)}%` },
  });
  const volume = chart.addSeries(LWC.HistogramSeries, {
    priceScaleId: "volume",
    priceFormat: { type: "volume" },
    lastValueVisible: false,
    priceLineVisible: false,
  });
  chart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  // markers keep out of the autoscale: the % scale could not follow their margins
  const markers = LWC.createSeriesMarkers(price, [], { autoScale: false });
  const levels = new LevelLabels(placeLevelHooks);
  price.attachPrimitive(levels);
  const calls = { setData: 0, update: 0, volumeSetData: 0, streamed: 0 };
  const view = { chart, series: { session, price, gain, volume }, markers, levels, priceLines: [], calls };

  chart.subscribeCrosshairMove(showTooltip);
  chart.timeScale().subscribeVisibleLogicalRangeChange(scheduleCuts);
  chart.timeScale().subscribeSizeChange(scheduleCuts);
  // a price scale's labels grow or shrink, the plot's width with them, and the library
  // slides the view: the session is put back in view (unless the reader moved it)
  chart.timeScale().subscribeSizeChange(() => {
    if (!state.userMoved) showSession();
  });
  chart.timeScale().subscribeSizeChange((width) => {
    const narrow = width < NARROW_PX;
    if (narrow === state.narrow) return;
    state.narrow = narrow;
    state.markersDirty = true;
    levels.requestUpdate();
    scheduleRender();
  });
  // the reader zoomed or panned (a wheel, a drag, a pinch): the view is theirs until "whole day"
  let pressed = false;
  const moved = () => { state.userMoved = true; };
  container.addEventListener("wheel", moved, { passive: true });
  container.addEventListener("touchmove", moved, { passive: true });
  container.addEventListener("pointerdown", () => { pressed = true; });
  container.addEventListener("pointermove", () => { if (pressed) moved(); });
  window.addEventListener("pointerup", () => { pressed = false; });
  $("chart-fit").addEventListener("click", () => {
    state.userMoved = false;
    showSession();
  });
  // for the browser tests: the chart, its series, and how often each way of drawing ran
  window.trackerChart = {
    chart,
    series: view.series,
    markers: () => markers.markers(),
    calls,
    chartTime,
    // the volume cap (capVolume), and the volume scale's top: the volume at the top of the
    // volume series' part of the pane (its scale's top margin)
    volumeCap: () => state.volumeCap,
    volumeTop: () => {
      const margin = chart.priceScale("volume").options().scaleMargins.top;
      return volume.coordinateToPrice(chart.paneSize(0).height * margin);
    },
    // a zoom, as the reader's own: the view stays there until "whole day"
    zoomTo: (fromUs, toUs) => {
      state.userMoved = true;
      chart.timeScale().setVisibleRange({ from: chartTime(fromUs), to: chartTime(toUs) });
    },
    // the pointer's place, in the chart element's pixels, at an instant and a price
    pointAt: (tsUs, priceValue) => {
      const x = chart.timeScale().timeToCoordinate(chartTime(tsUs));
      const y = price.priceToCoordinate(priceValue);
      return x === null || y === null ? null : { x: x + chart.priceScale("left").width(), y };
    },
  };
  return view;
}

function lineData(bar) {
  return { time: bar.t, value: bar.close };
}

// A bar's volume; an auction's may be many times a second's, so a bar over the cap
// (capVolume) is cut to it and drawn darker: the seconds of continuous trading stay
// readable, and the tooltip has the whole volume.
function volumeData(bar, previous) {
  const up = bar.close >= (previous ? previous.close : bar.open);
  const volume = bar.volume || 0;
  if (state.volumeCap !== null && volume > state.volumeCap) {
    return { time: bar.t, value: state.volumeCap, color: up ? COLORS.up : COLORS.down };
  }
  return { time: bar.t, value: volume, color: up ? COLORS.volumeUp : COLORS.volumeDown };
}

// The whole day at once: a day's history, or a new day. Never for a streamed tick.
function drawDay() {
  const view = state.chart;
  const bars = state.bars;
  view.series.price.setData(bars.map(lineData));
  view.series.gain.setData(bars.map((bar) => ({ time: bar.t, value: gainOf(bar.close) })));
  capVolume();
  drawVolumes();
  view.calls.setData += 1;
  drawSlots();
  state.markersDirty = true;
}

function drawSlots() {
  const view = state.chart;
  state.slots = sessionSlots();
  view.series.session.setData(state.slots);
  if (!state.userMoved) showSession();
  scheduleCuts();
}

// The whole session in view, and any trade outside it: the hours to come too (fitContent
// would stop at the last trade).
function showSession() {
  const slots = state.slots;
  const bars = state.bars;
  const times = [slots[0], slots[slots.length - 1], bars[0], bars[bars.length - 1]]
    .filter(Boolean)
    .map((point) => (point.time === undefined ? point.t : point.time));
  if (!times.length) return;
  state.chart.chart.timeScale().setVisibleRange({ from: Math.min(...times), to: Math.max(...times) });
}

// The volume scale's top: three times the 99th percentile of the bars' volumes. Whether
// it changed.
function capVolume() {
  const volumes = state.bars.map((bar) => bar.volume || 0).sort((a, b) => a - b);
  const before = state.volumeCap;
  state.volumeCap = volumes.length >= 100 ? 3 * volumes[Math.floor(volumes.length * 0.99)] : null;
  state.volumeCapBars = state.bars.length;
  return state.volumeCap !== before;
}

// Every bar's volume, cut to the cap (the volume series only: a day opened at its
// opening auction keeps that bar's huge volume only until the cap is first worked out).
function drawVolumes() {
  const view = state.chart;
  const bars = state.bars;
  view.series.volume.setData(bars.map((bar, i) => volumeData(bar, bars[i - 1])));
  view.calls.volumeSetData += 1;
}

// Bars new or grown by ticks (in time order, the last ones): the last points of each
// series, updated in place. The volume cap is worked out again as the day doubles; when
// it moves, every volume bar is redrawn to it.
function drawBars(changed) {
  const view = state.chart;
  const recapped = state.bars.length >= 2 * state.volumeCapBars + 100 && capVolume();
  for (const bar of changed) {
    view.series.price.update(lineData(bar));
    view.series.gain.update({ time: bar.t, value: gainOf(bar.close) });
    if (!recapped) view.series.volume.update(volumeData(bar, state.bars[state.bars.lastIndexOf(bar) - 1]));
    view.calls.update += 1;
  }
  if (recapped) drawVolumes();
}

function drawLevels() {
  const view = state.chart;
  const listing = state.listing;
  for (const line of view.priceLines) view.series.price.removePriceLine(line);
  const levels = [{ id: null, label: "offer", price: listing.offer_price, color: COLORS.offer, rule: null }];
  for (const rule of listing.rules) {
    if (rule.level !== null) levels.push({ id: rule.id, label: ruleLabel(rule), price: rule.level, color: COLORS.level, rule });
  }
  view.priceLines = levels.map((level) =>
    view.series.price.createPriceLine({
      price: level.price,
      color: level.color,
      lineWidth: 1,
      lineStyle: level.rule ? LWC.LineStyle.Dotted : LWC.LineStyle.Dashed,
      axisLabelVisible: false, // LevelLabels labels them on the axis, named
      title: "",
    }),
  );
  view.levels.set(levels);
  renderLevelHooks(levels);
}

// A rule's short name on the axis and on its markers: "+100%", "cap HK$100bn", "≤ 19.60".
function ruleLabel(rule) {
  const up = rule.direction !== "down";
  if (rule.kind === "gain_pct") {
    const against = rule.reference === "open" ? " vs open" : rule.reference === "prev_close" ? " vs prev" : "";
    return `${rule.threshold > 0 ? "+" : ""}${rule.threshold}%${against}`;
  }
  if (rule.kind === "market_cap") return `cap ${up ? "" : "< "}${shortMoney(rule.threshold)}`;
  return rule.id;
}

function alertLabel(record) {
  const rule = state.listing.rules.find((r) => r.id === record.rule);
  return rule ? ruleLabel(rule) : record.rule;
}

// The alerts oldest first, equal instants in firing order (state.alerts is newest first).
function firingOrder() {
  return [...state.alerts].sort((a, b) => a.tsUs - b.tsUs);
}

// Every alert a marker; alerts in one bar share one marker whose text lists them all.
function drawMarkers() {
  state.markersDirty = false;
  const groups = new Map();
  for (const alert of firingOrder()) {
    const record = alert.record;
    if (record.kind === "source" || record.kind === "test" || record.price == null) continue;
    const time = chartTime(alert.tsUs);
    if (!groups.has(time)) groups.set(time, []);
    groups.get(time).push(alert);
  }
  const withText = groups.size <= MARKER_TEXT_LIMIT && !state.narrow;
  const markers = [];
  for (const [time, alerts] of [...groups.entries()].sort((a, b) => a[0] - b[0])) {
    const down = alerts.every((a) => a.record.direction === "down");
    const mixed = !down && alerts.some((a) => a.record.direction === "down");
    const labels = [...new Set(alerts.map((a) => alertLabel(a.record)))];
    markers.push({
      time,
      position: mixed ? "inBar" : down ? "belowBar" : "aboveBar",
      shape: mixed ? "circle" : down ? "arrowDown" : "arrowUp",
      color: down ? COLORS.down : mixed ? COLORS.level : COLORS.up,
      text: withText || (alerts.length > 1 && !state.narrow) ? labels.join(", ") : "",
      id: alerts.map((a) => a.record.alert_id).join(","),
    });
    for (const alert of alerts) alert.markerTime = time;
  }
  state.chart.markers.setMarkers(markers);
  renderMarkerHooks();
}

// ---- the chart's overlays: the cuts, the tooltip ------------------------------------------

let cutsQueued = false;
function scheduleCuts() {
  if (cutsQueued) return;
  cutsQueued = true;
  requestAnimationFrame(() => {
    cutsQueued = false;
    drawCuts();
  });
}

// A dashed line, labelled, where each closed break of the day is cut out of the axis.
function drawCuts() {
  const layer = $("chart-cuts");
  const view = state.chart;
  if (!view) return;
  const timeScale = view.chart.timeScale();
  const left = view.chart.priceScale("left").width();
  const pane = view.chart.paneSize(0);
  layer.style.left = `${left}px`;
  layer.style.width = `${pane.width}px`;
  layer.style.height = `${pane.height}px`;
  const slots = state.slots;
  const nodes = [];
  for (const cut of dayBreaks()) {
    const before = chartTime(cut.start_us - 1);
    const after = chartTime(cut.end_us + state.interval * 1e6 - 1);
    if (!slots.length || slots[0].time > before || slots[slots.length - 1].time < after) continue;
    const x1 = timeScale.timeToCoordinate(before);
    const x2 = timeScale.timeToCoordinate(after);
    const node = el("div", { class: "cut", "data-phase": cut.phase });
    node.append(el("span", { class: "cut-label" }, cut.label));
    if (x1 === null || x2 === null || (x1 + x2) / 2 < 0 || (x1 + x2) / 2 > pane.width) node.hidden = true;
    else node.style.left = `${(x1 + x2) / 2}px`;
    nodes.push(node);
  }
  layer.replaceChildren(...nodes);
}

// The bar at or before a chart time (binary search).
function barAt(time) {
  const bars = state.bars;
  let lo = 0;
  let hi = bars.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (bars[mid].t <= time) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found < 0 ? null : bars[found];
}

function showTooltip(param) {
  const tip = $("chart-tooltip");
  const bar = param.point && param.time !== undefined ? barAt(param.time) : null;
  if (!bar) {
    tip.hidden = true;
    return;
  }
  const time = param.time;
  const exact = bar.t === time;
  const gain = gainOf(bar.close);
  const rows = [
    el("div", { class: "tt-time" }, `${hhmmss(time)}${state.interval > 1 ? ` +${state.interval}s` : ""}`),
    el("div", { class: "tt-price" }, `${money(bar.close)} `),
    el("div", {}, `market cap ${bigMoney(capOf(bar.close))}`),
  ];
  rows[1].append(el("span", { class: gain >= 0 ? "up" : "down" }, pct(gain)));
  if (exact) {
    const volume = bar.volume == null ? "volume –" : `volume ${count(bar.volume)}`;
    rows.push(el("div", {}, `${volume} · ${count(bar.trades)} trade${bar.trades === 1 ? "" : "s"}`));
    if (bar.high !== bar.low) rows.push(el("div", { class: "muted" }, `high ${bar.high.toFixed(priceDigits())} low ${bar.low.toFixed(priceDigits())}`));
  } else {
    rows.push(el("div", { class: "muted" }, `no trade; last at ${exchangeClock(bar.last_ts_us)}`));
  }
  tip.replaceChildren(...rows);
  tip.dataset.tsUs = String(usOfChartTime(time));
  tip.dataset.time = hhmmss(time);
  tip.dataset.price = String(bar.close);
  tip.dataset.barTsUs = String(bar.start_us);
  tip.dataset.volume = exact && bar.volume != null ? String(bar.volume) : "0";
  tip.hidden = false;
  const box = $("chart").getBoundingClientRect();
  const x = param.point.x + state.chart.chart.priceScale("left").width();
  const width = tip.offsetWidth;
  const height = tip.offsetHeight;
  tip.style.left = `${x + 16 + width > box.width ? Math.max(0, x - 16 - width) : x + 16}px`;
  tip.style.top = `${Math.max(0, Math.min(param.point.y + 16, box.height - height - 4))}px`;
}

// ---- hooks beside the canvas: what the chart shows, for screen readers and the tests -------

function renderLevelHooks(levels) {
  const items = levels.map((level) => {
    const attrs = level.rule
      ? { class: "level", "data-rule": level.id, "data-level": level.price }
      : { id: "offer-line", class: "offer", "data-level": level.price };
    const item = el("li", attrs);
    const label = el("span", level.rule ? { class: "level-label", "data-rule": level.id } : { class: "offer-label" }, `${level.label} ${level.price.toFixed(priceDigits())}`);
    item.append(label, el("span", { class: "where" }, ""));
    level.node = item;
    return item;
  });
  $("chart-levels").replaceChildren(...items);
}

// Where each level's label sits on the axis now: in view (data-y, pixels from the pane's
// top) or pinned above or below it.
function placeLevelHooks(views) {
  for (const view of views) {
    const node = view.level.node;
    if (!node) continue;
    const y = view.fixed !== undefined ? view.fixed : view.y;
    const where = view.side === "in" ? "" : view.side === "none" ? " (no price yet)" : ` (${view.side} the chart)`;
    const ys = y === null ? "" : String(Math.round(y));
    if (node.dataset.axis !== view.side || node.dataset.y !== ys) {
      node.dataset.axis = view.side;
      node.dataset.y = ys;
      node.lastChild.textContent = where;
    }
  }
}

function renderMarkerHooks() {
  const items = [];
  for (const alert of firingOrder()) {
    const record = alert.record;
    if (alert.markerTime === undefined || record.kind === "source" || record.kind === "test") continue;
    items.push(el("li", {
      class: "alert-marker",
      "data-alert-id": record.alert_id,
      "data-rule": record.rule,
      "data-marker-time": hhmmss(alert.markerTime),
    }, `${clock(record.ts)} ${record.rule}: ${record.message}`));
  }
  $("chart-markers").replaceChildren(...items);
}

// ---- data in ------------------------------------------------------------------------------

// A new day on the page: its bars (none yet), its calendar, its alerts.
function resetDay(day) {
  state.day = day;
  state.offset = day ? zoneOffset(state.listing.timezone, Date.parse(`${day}T12:00:00Z`)) : 0;
  state.bars = [];
  state.stats = emptyStats();
  state.alerts = [];
  state.alertIds = new Set();
  state.groups = new Map();
  state.dirtyGroups = new Map();
  $("alerts").replaceChildren();
  $("no-alerts").hidden = false;
  $("alert-count").textContent = "0";
  $("day").textContent = day ? `on ${day}` : "";
  const query = day ? `?date=${day}` : "";
  $("ticks-link").href = listingUrl(`/ticks${query}`);
  $("bars-link").href = listingUrl(`/bars?interval=${state.interval}s${day ? `&date=${day}` : ""}`);
  if (state.chart) drawDay();
  if (day && (!state.session || state.session.date !== day)) loadDay(day);
  else if (state.chart) drawSlots();
  scheduleRender();
}

function installBars(bars) {
  state.bars = bars;
  state.stats = emptyStats();
  for (const bar of bars) addToStats(bar);
  drawDay();
  scheduleRender();
}

// Ticks from the event stream: kept aside until the stream's catch-up (the day so far at
// first; after a reconnect, what was committed while away) is drawn, so that they come
// after it (see catchUp); else drawn at once.
function addTicks(ticks) {
  if (!state.historyLoaded || state.buffering) {
    state.pending.push(...ticks);
    return;
  }
  applyTicks(ticks);
}

// The ticks the stream sent while its catch-up ran, now that it is drawn (those the
// catch-up already had are skipped, see counted).
function flushPending() {
  state.buffering = false;
  const pending = state.pending;
  state.pending = [];
  if (pending.length) applyTicks(pending);
}

// Ticks from the stream or a poll, folded into the bars: the last bar grows or a new one
// starts, and each series' last point is updated (series.update), never redrawn whole.
function applyTicks(ticks, streamed = true) {
  const changed = [];
  for (const tick of ticks) {
    const day = dayOf(tick.ts);
    if (state.pinnedDay && day !== state.pinnedDay) continue;
    if (state.day === null || day > state.day) {
      const later = state.day !== null;
      resetDay(day);
      if (later) refreshAlerts().catch((error) => console.warn(error)); // the new day's only
    } else if (day < state.day || counted(tick)) {
      continue;
    }
    const last = lastBar();
    if (last && chartTime(tick.ts_us) === last.t) {
      addToStats(last, -1);
      foldTick(last, tick);
      addToStats(last);
      if (changed[changed.length - 1] !== last) changed.push(last);
    } else {
      const bar = newBar(tick);
      state.bars.push(bar);
      addToStats(bar);
      changed.push(bar);
    }
  }
  if (!changed.length) return;
  drawBars(changed);
  if (streamed) state.liveAt = Date.now();
  scheduleRender();
}

// Bars from a poll's catch-up: the last one replaced as it grew, later ones appended.
function addBars(raw) {
  const changed = [];
  for (const item of raw) {
    const day = dayOf(item.ts);
    if (state.pinnedDay && day !== state.pinnedDay) continue;
    if (state.day !== null && day < state.day) continue;
    if (state.day === null || day > state.day) { // a new day: all of it
      state.historyLoaded = false;
      return loadHistory();
    }
    const bar = barFromApi(item);
    const last = lastBar();
    if (last && bar.t < last.t) continue;
    if (last && bar.t === last.t) {
      // the same bar: taken when it goes further, or holds ticks the stream missed
      const behind = bar.last_ts_us < last.last_ts_us || (bar.last_ts_us === last.last_ts_us && bar.last_seq < last.last_seq);
      const same = bar.last_ts_us === last.last_ts_us && bar.last_seq === last.last_seq;
      if (behind || (same && bar.trades <= last.trades)) continue;
      addToStats(last, -1);
      state.bars[state.bars.length - 1] = bar;
    } else {
      state.bars.push(bar);
    }
    addToStats(bar);
    changed.push(bar);
  }
  if (!changed.length) return null;
  drawBars(changed);
  state.liveAt = Date.now();
  scheduleRender();
  return null;
}

// The day so far: bars of the pinned day, or of the last day stored. A server without
// the bars API gives the day's ticks, folded into bars here.
async function loadHistory() {
  const query = new URLSearchParams();
  if (state.pinnedDay) query.set("date", state.pinnedDay);
  state.interval = chooseInterval();
  let day = null;
  let raw = null;
  let ticks = null;
  if (state.barsApi) {
    query.set("interval", `${state.interval}s`);
    try {
      const data = await getJson(listingUrl(`/bars?${query}`));
      day = data.date;
      state.interval = data.interval_s || state.interval;
      raw = data.bars;
    } catch (error) {
      if (!(error instanceof HttpError) || error.status !== 404) throw error;
      state.barsApi = false; // a server without bars: the day's ticks
      query.delete("interval");
    }
  }
  if (!state.barsApi) {
    const data = await getJson(listingUrl(`/ticks?${query}`));
    day = data.date;
    ticks = data.ticks;
  }
  if (!day && raw && raw.length) day = dayOf(raw[0].ts);
  if (!day && ticks && ticks.length) day = dayOf(ticks[0].ts);
  resetDay(day || state.pinnedDay);
  installBars(raw ? raw.map(barFromApi) : barsFromTicks(ticks || []));
  state.historyLoaded = true;
  $("chart").dataset.state = "drawn";
  $("chart").dataset.drawnMs = String(Math.round(performance.now()));
}

// 1 s bars (a line through every tick's second) unless the day's session is longer than
// half a day (a 24-hour market): then 5 s.
function chooseInterval() {
  const session = state.session;
  if (!session || !session.spans) return 1;
  const seconds = session.spans.reduce((sum, span) => sum + (span.end_us - span.start_us) / 1e6, 0);
  return seconds > 12 * 3600 ? 5 : 1;
}

// The day's session and rule levels (a daily rule's level moves with the day's open).
async function loadDay(day) {
  try {
    const listing = await getJson(listingUrl(`?date=${day}`));
    if (state.day !== day) return; // a newer day came meanwhile
    state.listing.rules = listing.rules;
    state.session = listing.session;
    if (state.chart) {
      drawSlots();
      drawLevels();
    }
    scheduleRender();
  } catch (error) {
    console.warn(error);
    stopOnRefusal(error);
  }
}

async function refreshAlerts() {
  const query = new URLSearchParams({ listing: state.listing.id });
  if (state.day) query.set("date", state.day);
  const newest = state.alerts[0];
  if (newest) query.set("since", String(newest.tsUs));
  const data = await getJson(`/api/alerts?${query}`);
  for (const record of data.alerts) addAlert(record, undefined, true);
  showAlerts();
}

// Fetch what was committed since the last bar we have (all of the day at first), then
// draw the ticks the stream sent meanwhile. Asked for while one runs (the stream reopened:
// the running one may have been answered before what was committed while away), it runs
// again once that one is done.
function catchUp() {
  if (state.catchingUp) {
    if (!state.catchUpAgain) {
      state.catchUpAgain = state.catchingUp
        .catch(() => {})
        .then(() => {
          state.catchUpAgain = null;
          return catchUp();
        });
    }
    return state.catchUpAgain;
  }
  state.catchingUp = (async () => {
    const opened = state.streamGen; // the stream's ticks from then on come after this answer
    if (!state.historyLoaded) {
      await loadHistory();
    } else {
      const last = lastBar();
      const query = new URLSearchParams();
      if (state.pinnedDay) query.set("date", state.pinnedDay);
      if (state.barsApi) {
        query.set("interval", `${state.interval}s`);
        if (last) query.set("since", String(last.start_us));
        const data = await getJson(listingUrl(`/bars?${query}`));
        await addBars(data.bars);
      } else {
        if (last) query.set("since", String(last.last_ts_us));
        const data = await getJson(listingUrl(`/ticks?${query}`));
        if (!last && data.date && state.day === null) resetDay(data.date);
        applyTicks(data.ticks);
      }
    }
    // unless the stream opened again meanwhile: then the catch-up that follows does it
    if (opened === state.streamGen && !state.halted) flushPending();
    await refreshAlerts();
    state.loaded = true;
  })().finally(() => {
    state.catchingUp = null;
  });
  return state.catchingUp;
}

// ---- alerts -------------------------------------------------------------------------------

function addAlert(record, publishedAt, batch = false) {
  if (state.alertIds.has(record.alert_id)) return;
  const day = dayOf(record.ts);
  if (state.pinnedDay && day !== state.pinnedDay) return;
  if (state.day !== null && day !== state.day) return;
  if (state.day === null) resetDay(day);
  state.alertIds.add(record.alert_id);
  const alert = { record, tsUs: Date.parse(record.ts) * 1000 };
  state.alerts.push(alert);
  state.dirtyGroups.set(record.rule, publishedAt);
  state.markersDirty = true;
  if (state.loaded) state.unannounced.push(record);
  if (!batch) showAlerts();
}

// The alerts added since the last call, in the list: newest first, equal instants in
// firing order (a stable sort of the records in the order they came). The new ones are
// announced together: one sound and one notification a call (a catch-up's batch is one).
function showAlerts() {
  state.alerts.sort((a, b) => b.tsUs - a.tsUs);
  for (const [rule, publishedAt] of state.dirtyGroups) showAlertGroup(rule, publishedAt);
  state.dirtyGroups.clear();
  $("no-alerts").hidden = state.alerts.length > 0;
  $("alert-count").textContent = String(state.alerts.length);
  const fresh = state.unannounced;
  state.unannounced = [];
  if (fresh.length) announce(fresh);
  scheduleRender();
}

// One list item a rule: its last fire, and when it fired more than once its count, its
// first fire and every fire behind a disclosure; the list is ordered by last fire.
function showAlertGroup(rule, publishedAt) {
  const fires = state.alerts.filter((a) => a.record.rule === rule); // newest first
  const last = fires[0].record;
  const first = fires[fires.length - 1].record;
  const source = last.kind === "source" || last.kind === "test";
  const classes = ["alert", source ? "source" : last.direction === "down" ? "down" : "up"];
  if (state.loaded) classes.push("fresh");
  const item = el("li", {
    class: classes.join(" "),
    "data-alert-id": last.alert_id,
    "data-rule": rule,
    "data-ts": last.ts,
    "data-count": fires.length,
  });
  if (publishedAt) item.dataset.publishedAt = String(Math.round(publishedAt * 1000));
  item.append(el("span", { class: "when" }, clock(last.ts)));
  item.append(el("span", { class: "rule" }, rule));
  if (fires.length > 1) item.append(el("span", { class: "count", title: `fired ${fires.length} times` }, `×${fires.length}`));
  for (const flag of ["gap", "inferred", "late", "silenced"]) {
    if (last[flag]) item.append(el("span", { class: "flag" }, flag));
  }
  item.append(el("span", { class: "message" }, last.message));
  if (fires.length > 1) {
    const details = el("details", { class: "fires" });
    details.append(el("summary", {}, `${fires.length} fires, the first at ${clock(first.ts)}`));
    const table = el("table");
    for (const fire of fires) {
      const row = el("tr", { "data-alert-id": fire.record.alert_id });
      row.append(el("td", { class: "num" }, clock(fire.record.ts)));
      row.append(el("td", { class: "num" }, fire.record.price == null ? "" : money(fire.record.price)));
      table.append(row);
    }
    details.append(table);
    const old = state.groups.get(rule);
    if (old && old.querySelector("details[open]")) details.open = true;
    item.append(details);
  }
  item.dataset.shownAt = String(Date.now());
  const old = state.groups.get(rule);
  if (old) old.remove();
  state.groups.set(rule, item);
  // by last fire, newest first
  const list = $("alerts");
  const lastUs = fires[0].tsUs;
  const after = [...list.children].find((node) => Date.parse(node.dataset.ts) * 1000 < lastUs);
  list.insertBefore(item, after || null);
}

// ---- sound and notification on a new alert (off by default, remembered) ------------------

let audio = null;

function soundOn() {
  return $("alert-sound").checked;
}

function setupAlertSound() {
  const box = $("alert-sound");
  box.checked = localStorage.getItem(STORAGE_KEY) === "on";
  box.addEventListener("change", () => {
    localStorage.setItem(STORAGE_KEY, box.checked ? "on" : "off");
    if (box.checked) {
      audioContext(); // made in the click, so the browser lets it play
      if (window.Notification && Notification.permission === "default") {
        Notification.requestPermission().catch(() => {});
      }
    }
  });
  // a context made on load starts suspended until the reader's first gesture
  document.addEventListener("pointerdown", () => {
    if (audio && audio.state === "suspended") audio.resume().catch(() => {});
  });
}

function audioContext() {
  if (!audio && (window.AudioContext || window.webkitAudioContext)) {
    audio = new (window.AudioContext || window.webkitAudioContext)();
  }
  return audio;
}

const NOTIFIED_LINES = 8; // a batch's notification lists this many alerts at most

// New alerts (one, or a catch-up's batch): one tone, low when they all fell, and one
// notification that names them.
function announce(records) {
  if (!soundOn()) return;
  const box = $("alert-sound");
  const context = audioContext();
  const newest = records[records.length - 1];
  if (context) {
    const tone = context.createOscillator();
    const gain = context.createGain();
    tone.frequency.value = records.every((record) => record.direction === "down") ? 440 : 880;
    gain.gain.setValueAtTime(0.15, context.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.4);
    tone.connect(gain).connect(context.destination);
    tone.start();
    tone.stop(context.currentTime + 0.4);
  }
  box.dataset.played = String(Number(box.dataset.played) + 1);
  if (window.Notification && Notification.permission === "granted") {
    let title = `${state.listing.name}: ${newest.rule}`;
    let body = newest.message;
    if (records.length > 1) {
      title = `${state.listing.name}: ${records.length} alerts`;
      const lines = records.slice(-NOTIFIED_LINES).map((record) => `${clock(record.ts)} ${record.rule}`);
      if (records.length > NOTIFIED_LINES) lines.unshift(`… ${records.length - NOTIFIED_LINES} earlier`);
      body = lines.join("\n");
    }
    try {
      new Notification(title, { body, tag: newest.alert_id });
      box.dataset.notified = String(Number(box.dataset.notified) + 1);
    } catch (error) {
      console.warn(error);
    }
  }
}

// ---- transports and status ----------------------------------------------------------------

function setLink(link) {
  state.link = link;
  updateStatus();
}

// The status: the market's phase now (or "stored day"), and how updates arrive. Now is the
// wall clock; but while ticks of another day than today stream in (a simulated clock, a
// replay being watched), it is the last tick's time.
function updateStatus() {
  if (state.halted) return;
  const status = $("status");
  status.dataset.state = state.link;
  status.dataset.transport = state.transport;
  if (!state.listing || !state.listing.session) {
    if (state.link === "offline") status.textContent = status.textContent || "offline";
    return;
  }
  const now = Date.now();
  const today = exchangeDate(now);
  let phase;
  let at = "";
  const last = state.stats && state.stats.last;
  const streaming = last && now - state.liveAt < LIVE_FRESH_MS;
  if (state.pinnedDay && state.pinnedDay !== today) {
    phase = "stored";
  } else if (streaming && state.day !== today) {
    phase = phaseAt(state.session, last.ts_us);
    at = ` at ${exchangeClock(last.ts_us)}, the last tick's time`;
  } else if (!state.daemonRunning && !streaming) {
    phase = "stored"; // no daemon writes this database: what it shows is a stored day
  } else {
    const session = state.session && state.session.date === today ? state.session : state.todaySession;
    phase = session ? phaseAt(session, now * 1000) : "closed";
  }
  status.dataset.phase = phase;
  const link = {
    connecting: "connecting…",
    live: "",
    polling: `polling every ${POLL_MS / 1000} s`,
    reconnecting: "reconnecting…",
    offline: "server unreachable, retrying",
  }[state.link];
  const text = state.link === "reconnecting" || state.link === "offline" ? link : [PHASES[phase], link].filter(Boolean).join(" · ");
  if (status.textContent !== text) status.textContent = text;
  const how = state.transport === "sse" ? "live updates by server-sent events" : "updates by polling";
  status.title = `${PHASES[phase]}${at}; ${how}`;
}

async function loadTodaySession() {
  const today = exchangeDate(Date.now());
  if (state.todaySession && state.todaySession.date === today) return;
  if (state.session && state.session.date === today) {
    state.todaySession = state.session;
    return;
  }
  try {
    state.todaySession = (await getJson(listingUrl(`?date=${today}`))).session;
  } catch (error) {
    console.warn(error);
  }
}

// Whether a daemon writes the database, asked again now and then (DAEMON_CHECK_MS): the
// status follows a daemon that starts or stops while the page is open.
async function checkDaemon() {
  if (state.daemonChecking) return;
  state.daemonChecking = true;
  state.daemonCheckedAt = Date.now();
  try {
    const data = await getJson("/api/listings");
    state.daemonRunning = Boolean(data.daemon && data.daemon.running);
    updateStatus();
  } catch (error) {
    console.warn(error);
  } finally {
    state.daemonChecking = false;
  }
}

function connectEvents() {
  const source = new EventSource(`/api/events?listing=${encodeURIComponent(state.listing.id)}`);
  state.source = source;
  source.addEventListener("open", () => {
    state.failures = 0;
    setLink("live");
    // anything committed while we were away (or before the stream opened): the stream's
    // ticks wait until it is drawn (addTicks), else those it has would be drawn before
    // it and its earlier bars skipped. It is tried again until it comes, unless the
    // server refuses the day (stopOnRefusal).
    state.buffering = true;
    state.streamGen += 1;
    const fetchDay = () => !state.halted && catchUp().catch((error) => {
      console.warn(error);
      if (stopOnRefusal(error)) return;
      if ((!state.historyLoaded || state.buffering) && state.source === source) setTimeout(fetchDay, 2 * POLL_MS);
    });
    fetchDay();
  });
  source.addEventListener("ticks", (event) => {
    const ticks = JSON.parse(event.data).ticks;
    if (state.chart) state.chart.calls.streamed += ticks.length;
    addTicks(ticks);
  });
  source.addEventListener("alert", (event) => {
    const data = JSON.parse(event.data);
    addAlert(data.alert, data.published_at);
  });
  source.addEventListener("error", () => {
    state.failures += 1;
    if (state.failures >= SSE_FAILURES_BEFORE_POLLING) {
      source.close();
      state.transport = "poll";
      startPolling();
    } else {
      setLink("reconnecting");
    }
  });
}

function startPolling() {
  setLink("polling");
  const poll = async () => {
    if (state.halted) return;
    try {
      await catchUp();
      setLink("polling");
    } catch (error) {
      console.warn(error);
      if (stopOnRefusal(error)) return;
      setLink("offline");
    }
    setTimeout(poll, POLL_MS);
  };
  poll();
}

// ---- drawing the rest ---------------------------------------------------------------------

function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    render();
  });
}

function render() {
  if (state.halted) return; // the problem panel stays
  renderSummary();
  renderRules();
  renderChartText();
  if (state.chart && state.markersDirty) drawMarkers();
  updateStatus();
}

function figure(name, label, value, tone) {
  const box = el("div", { class: "figure", "data-figure": name });
  box.append(el("div", { class: "label" }, label));
  box.append(el("div", { class: `value${tone ? ` ${tone}` : ""}` }, value));
  return box;
}

function renderSummary() {
  const listing = state.listing;
  const stats = state.stats;
  const boxes = [figure("offer", "offer", money(listing.offer_price))];
  if (stats && stats.last) {
    const last = stats.last;
    const gain = gainOf(last.price);
    const tone = gain >= 0 ? "up" : "down";
    // a day joined late: its first stored tick is not the opening trade (tracker.reporting.report)
    const until = state.session && state.session.date === state.day ? state.session.opening_until_us : null;
    const opening = until == null || stats.open.ts_us <= until ? "open" : "first stored";
    boxes.push(
      figure("last", `last ${exchangeClock(last.ts_us)}`, money(last.price), tone),
      figure("gain", "vs offer", pct(gain), tone),
      figure("market-cap", "market cap", bigMoney(capOf(last.price))),
      figure("open", `${opening} ${exchangeClock(stats.open.ts_us)}`, money(stats.open.price)),
      figure("high", `high ${exchangeClock(stats.high.ts_us)}`, money(stats.high.price)),
      figure("low", `low ${exchangeClock(stats.low.ts_us)}`, money(stats.low.price)),
    );
    if (stats.priced > 0) boxes.push(figure("vwap", "VWAP", money(stats.turnover / stats.priced)));
    boxes.push(figure("volume", "volume", count(stats.volume)));
    boxes.push(figure("ticks", "ticks", count(stats.trades)));
    document.title = `${money(last.price)} ${pct(gain)} · ${listing.name}`;
  } else {
    document.title = `${listing.name} (${listing.symbol})`;
  }
  boxes.push(figure("alerts", "alerts", String(state.alerts.length)));
  $("summary").replaceChildren(...boxes);
}

function renderRules() {
  const fired = new Map(); // rule -> its fires, oldest first
  for (const alert of firingOrder()) {
    if (!fired.has(alert.record.rule)) fired.set(alert.record.rule, []);
    fired.get(alert.record.rule).push(alert.record);
  }
  const rows = state.listing.rules.map((rule) => {
    const row = el("tr", { "data-rule": rule.id });
    const cell = el("td");
    cell.append(el("code", {}, rule.id));
    row.append(cell);
    const unknown = rule.reference === "open" ? "at the open" : "after a close";
    row.append(el("td", { class: "num" }, rule.level === null ? unknown : money(rule.level)));
    const fires = fired.get(rule.id) || [];
    const at = (record) => `${clock(record.ts)} at ${money(record.price)}`;
    let text = "–";
    if (fires.length === 1) text = at(fires[0]);
    if (fires.length > 1) text = `×${fires.length}, last ${at(fires[fires.length - 1])} (first ${clock(fires[0].ts)})`;
    row.append(el("td", { class: "num", "data-count": fires.length }, text));
    return row;
  });
  $("rules").tBodies[0].replaceChildren(...rows);
}

function renderChartText() {
  const listing = state.listing;
  const stats = state.stats;
  const chart = $("chart");
  const points = stats ? stats.trades : 0;
  if (chart.dataset.points !== String(points)) chart.dataset.points = String(points);
  const empty = $("chart-empty");
  empty.hidden = points > 0;
  if (!empty.hidden) {
    empty.textContent = state.pinnedDay && state.historyLoaded ? `no ticks stored on ${state.pinnedDay}` : "waiting for the first tick";
  }
  let line = $("price-line");
  if (points > 0) {
    if (!line) {
      line = el("p", { id: "price-line" });
      $("chart-summary").replaceChildren(line);
    }
    line.dataset.points = String(points);
    line.dataset.bars = String(state.bars.length);
    line.textContent = `Price line of ${count(points)} ticks in ${count(state.bars.length)} bars of ${state.interval} s, `
      + `${exchangeClock(state.bars[0].start_us)} to ${exchangeClock(stats.last.ts_us)}: last ${money(stats.last.price)}, `
      + `high ${money(stats.high.price)}, low ${money(stats.low.price)}.`;
  } else if (line) {
    line.remove();
  }
  const cuts = state.slots.length ? dayBreaks().map((b) => b.label) : [];
  const cutOut = cuts.length ? `; ${cuts.join(", ")} cut out at the dashed line` : "";
  const zone = state.day ? ` (${zoneName(state.offset)})` : "";
  const note = `Exchange time${zone}${cutOut}. Right axis: price, with the offer and each rule's level; `
    + `left axis: % vs the offer; bars: volume a second. Market cap on ${listing.shares_outstanding.toLocaleString("en-US")} shares. `
    + "Scroll or pinch to zoom, drag to pan.";
  if ($("chart-note").textContent !== note) $("chart-note").textContent = note;
}

// ---- start --------------------------------------------------------------------------------

function showProblem(title, text, links = []) {
  $("listing-name").textContent = title;
  $("listing-meta").textContent = "";
  const box = $("problem");
  box.replaceChildren(el("p", {}, text));
  if (links.length) {
    const list = el("ul");
    for (const [href, label] of links) {
      const item = el("li");
      item.append(el("a", { href }, label));
      list.append(item);
    }
    box.append(list);
  }
  box.hidden = false;
  $("day-view").hidden = true;
  $("alert-sound").parentNode.hidden = true;
  const status = $("status");
  status.dataset.state = "offline";
  status.dataset.phase = "";
  status.textContent = "nothing to show";
  document.title = `${title}: listing tracker`;
}

// A 4xx answer to the page's own request (its day's bars, ticks, calendar or alerts): the
// server will not give this day (e.g. ?date=1800-01-01, a date outside the years it
// holds), so asking again cannot help. The problem panel says why, in the server's words,
// and the page stops asking. True when it stopped (now or before).
function stopOnRefusal(error) {
  if (state.halted) return true;
  const refused = error instanceof HttpError && error.status >= 400 && error.status < 500 && ![408, 429].includes(error.status);
  if (!refused) return false;
  state.halted = true;
  if (state.source) {
    state.source.close();
    state.source = null;
  }
  const here = `?listing=${encodeURIComponent(state.listing.id)}`;
  const reason = error.reason || `HTTP ${error.status}`;
  if (state.pinnedDay) {
    showProblem(`No day “${state.pinnedDay}”`, `The server refuses ?date=${state.pinnedDay}: ${reason}.`, [[here, `${state.listing.id}: its last day`]]);
  } else {
    showProblem("Refused", `The server refuses the page's request: ${reason}.`, [[here, `${state.listing.id}: reload`]]);
  }
  $("problem").dataset.status = String(error.status);
  return true;
}

function validDate(text) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(text)) return false;
  const date = new Date(`${text}T00:00:00Z`);
  return !Number.isNaN(date.getTime()) && date.toISOString().slice(0, 10) === text;
}

function showListing(listing) {
  $("listing-name").textContent = `${listing.name} (${listing.symbol})`;
  $("listing-meta").textContent = `offer ${money(listing.offer_price)} · ${listing.shares_outstanding.toLocaleString("en-US")} shares · ${listing.timezone}`;
  $("basis").textContent = listing.shares_basis ? `Market cap basis: ${listing.shares_basis}.` : "";
  const select = $("listing-select");
  if (state.listings.length > 1) {
    select.replaceChildren(...state.listings.map((l) => el("option", { value: l.id }, `${l.id} (${l.symbol})`)));
    select.value = listing.id;
    select.hidden = false;
    select.addEventListener("change", () => {
      const next = new URLSearchParams(location.search);
      next.set("listing", select.value);
      location.search = next.toString();
    });
  }
}

async function start() {
  setupAlertSound();
  const data = await getJson("/api/listings");
  state.listings = data.listings;
  state.daemonRunning = Boolean(data.daemon && data.daemon.running);
  const wanted = params.get("listing");
  const others = state.listings.map((l) => [`?listing=${encodeURIComponent(l.id)}`, `${l.id}: ${l.name} (${l.symbol})`]);
  if (wanted !== null && !state.listings.some((l) => l.id === wanted)) {
    showProblem(`No listing “${wanted}”`, `This server tracks no listing “${wanted}”. It tracks:`, others);
    return;
  }
  state.listing = state.listings.find((l) => l.id === wanted) || state.listings[0];
  if (!state.listing) {
    showProblem("No listing configured", "The listings file names no listing.");
    return;
  }
  if (state.pinnedDay !== null && !validDate(state.pinnedDay)) {
    const here = `?listing=${encodeURIComponent(state.listing.id)}`;
    showProblem(`No day “${state.pinnedDay}”`, `?date=${state.pinnedDay} is not a date: write it as YYYY-MM-DD, e.g. ?date=2026-01-02.`, [[here, `${state.listing.id}: its last day`]]);
    return;
  }
  if (!LWC) {
    showProblem("The chart library did not load", "/static/vendor/lightweight-charts.standalone.production.js is missing: reinstall the tracker.");
    return;
  }
  state.session = state.listing.session;
  showListing(state.listing);
  state.chart = createDayChart();
  drawLevels();
  state.day = null;
  state.stats = emptyStats();
  if (state.pinnedDay) resetDay(state.pinnedDay);
  render();
  loadTodaySession();
  state.daemonCheckedAt = Date.now();
  setInterval(() => {
    if (state.halted) return;
    updateStatus();
    if (!state.todaySession || state.todaySession.date !== exchangeDate(Date.now())) loadTodaySession();
    if (Date.now() - state.daemonCheckedAt >= DAEMON_CHECK_MS) checkDaemon();
  }, 1000);
  if (state.transport === "sse") {
    setLink("connecting");
    connectEvents(); // its "open" fetches the day so far
  } else {
    startPolling();
  }
}

start().catch((error) => {
  console.warn(error);
  if (error instanceof HttpError && error.status === 404) {
    showProblem("Not found", error.reason || error.message);
  } else {
    $("listing-name").textContent = String(error);
    $("status").dataset.state = "offline";
    $("status").textContent = "cannot load";
  }
});
