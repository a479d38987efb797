// The live page: one listing's day, updated as ticks and alerts are committed.
// Live updates come as server-sent events (/api/events); without them (or with
// ?transport=poll) the page polls the JSON API. Page parameters: ?listing=ID,
// ?date=YYYY-MM-DD (a stored day, no live updates from other days).
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const POLL_MS = 1000;
const MIN_DAY_SHARE = 0.1;
const NEAR_SHARE = 0.25; // a level widening the axis by no more than this share is drawn anyway
const LABEL_PX = 13; // a level label's height on the chart
const SSE_FAILURES_BEFORE_POLLING = 3;
const params = new URLSearchParams(location.search);

const state = {
  listings: [],
  listing: null,
  chart: { gap_width_s: 60 },
  session: null, // the day's calendar: trading spans, closed breaks, opening deadline
  pinnedDay: params.get("date"),
  day: null,
  ticks: [],
  keys: new Set(),
  xs: [],
  alerts: [],
  alertIds: new Set(),
  loaded: false, // the first catch-up is done: alerts from now on are "fresh"
  transport: params.get("transport") === "poll" || !window.EventSource ? "poll" : "sse",
  source: null,
  failures: 0,
  pollTimer: null,
  catchingUp: null,
  renderQueued: false,
};

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

async function getJson(url) {
  const response = await fetch(url, { cache: "no-store" });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

// ---- formatting ---------------------------------------------------------------------------

function money(value, digits = 2) {
  const cur = state.listing.currency;
  const prefix = cur === "HKD" ? "HK$" : cur === "USD" ? "US$" : `${cur} `;
  return prefix + value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function bigMoney(value) {
  const cur = state.listing.currency;
  const prefix = cur === "HKD" ? "HK$" : cur === "USD" ? "US$" : `${cur} `;
  if (Math.abs(value) >= 1e9) return `${prefix}${(value / 1e9).toFixed(2)}bn`;
  if (Math.abs(value) >= 1e6) return `${prefix}${(value / 1e6).toFixed(1)}m`;
  return prefix + Math.round(value).toLocaleString("en-US");
}

function pct(value) {
  return `${value >= 0 ? "+" : ""}${value.toFixed(2)}%`;
}

const clock = (iso) => iso.slice(11, 19); // exchange time: the records carry the exchange's offset
const dayOf = (iso) => iso.slice(0, 10);

// ---- the chart's axis: trading time, the calendar's closed breaks cut out (tracker.chart.axis.TradingAxis)

function dayBreaks() {
  const session = state.session;
  return session && session.date === state.day ? session.breaks : [];
}

// seconds of an instant with every closed break before it squeezed to gap_width_s
function squeezed(tsUs) {
  let seconds = tsUs / 1e6;
  const width = state.chart.gap_width_s;
  for (const b of dayBreaks()) {
    const length = (b.end_us - b.start_us) / 1e6;
    const inside = Math.min(Math.max(tsUs - b.start_us, 0) / 1e6, length);
    seconds -= inside * (1 - width / length);
  }
  return seconds;
}

function placeTick(index) {
  state.xs[index] = squeezed(state.ticks[index].ts_us) - squeezed(state.ticks[0].ts_us);
}

function relayout() {
  state.xs = [];
  for (let i = 0; i < state.ticks.length; i++) placeTick(i);
}

// the breaks the day's ticks span, each with the x of its cut line
function cuts() {
  const ticks = state.ticks;
  if (!ticks.length) return [];
  const first = ticks[0].ts_us;
  const last = ticks[ticks.length - 1].ts_us;
  const origin = squeezed(first);
  return dayBreaks()
    .filter((b) => b.end_us > first && b.start_us < last)
    .map((b) => ({ ...b, x: squeezed(b.start_us) - origin + state.chart.gap_width_s / 2 }));
}

function xOfInstant(tsUs) {
  // an alert's x: the instant of its tick, on the same axis as the ticks
  if (!state.ticks.length) return null;
  return Math.max(0, squeezed(tsUs) - squeezed(state.ticks[0].ts_us));
}

// ---- data in ------------------------------------------------------------------------------

function resetDay(day) {
  state.day = day;
  state.ticks = [];
  state.keys = new Set();
  state.xs = [];
  if (day && (!state.session || state.session.date !== day)) loadDay(day);
  state.alerts = [];
  state.alertIds = new Set();
  $("alerts").replaceChildren();
  $("day").textContent = day ? `on ${day}` : "";
  $("ticks-link").href = `/api/listings/${encodeURIComponent(state.listing.id)}/ticks${day ? `?date=${day}` : ""}`;
}

function addTicks(ticks) {
  let appended = false;
  let outOfOrder = false;
  for (const tick of ticks) {
    const day = dayOf(tick.ts);
    if (state.pinnedDay && day !== state.pinnedDay) continue;
    if (state.day === null || day > state.day) {
      const fresh = state.day !== null;
      resetDay(day);
      if (fresh) refreshAlerts(); // a new trading day: its alerts only
    } else if (day < state.day) {
      continue;
    }
    const key = `${tick.ts_us}:${tick.seq}`;
    if (state.keys.has(key)) continue;
    state.keys.add(key);
    const last = state.ticks[state.ticks.length - 1];
    state.ticks.push(tick);
    if (last && (tick.ts_us < last.ts_us || (tick.ts_us === last.ts_us && tick.seq < last.seq))) {
      outOfOrder = true;
    } else if (!outOfOrder) {
      placeTick(state.ticks.length - 1);
    }
    appended = true;
  }
  if (outOfOrder) {
    state.ticks.sort((a, b) => a.ts_us - b.ts_us || a.seq - b.seq);
    relayout();
  }
  if (appended) scheduleRender();
}

function addAlert(record, publishedAt) {
  if (state.alertIds.has(record.alert_id)) return;
  const day = dayOf(record.ts);
  if (state.pinnedDay && day !== state.pinnedDay) return;
  if (state.day !== null && day !== state.day) return;
  if (state.day === null) resetDay(day);
  state.alertIds.add(record.alert_id);
  const alert = { record, tsUs: Date.parse(record.ts) * 1000, node: alertNode(record, publishedAt) };
  state.alerts.push(alert);
  // newest first; equal instants in firing order
  state.alerts.sort((a, b) => b.tsUs - a.tsUs);
  const list = $("alerts");
  const index = state.alerts.indexOf(alert);
  const after = state.alerts[index + 1];
  list.insertBefore(alert.node, after ? after.node : null);
  alert.node.dataset.shownAt = String(Date.now());
  $("no-alerts").hidden = true;
  $("alert-count").textContent = String(state.alerts.length);
  scheduleRender();
}

function alertNode(record, publishedAt) {
  const source = record.kind === "source";
  const classes = ["alert", source ? "source" : record.direction === "down" ? "down" : "up"];
  if (state.loaded) classes.push("fresh");
  const item = el("li", {
    class: classes.join(" "),
    "data-alert-id": record.alert_id,
    "data-rule": record.rule,
    "data-ts": record.ts,
  });
  if (publishedAt) item.dataset.publishedAt = String(Math.round(publishedAt * 1000));
  item.append(el("span", { class: "when" }, clock(record.ts)));
  item.append(el("span", { class: "rule" }, record.rule));
  for (const flag of ["gap", "inferred", "late", "silenced"]) {
    if (record[flag]) item.append(el("span", { class: "flag" }, flag));
  }
  item.append(el("span", { class: "message" }, record.message));
  return item;
}

// The day's session and rule levels (a daily rule's level moves with the day's open).
async function loadDay(day) {
  const url = `/api/listings/${encodeURIComponent(state.listing.id)}?date=${day}`;
  try {
    const listing = await getJson(url);
    if (state.day !== day) return; // a newer day came meanwhile
    state.listing.rules = listing.rules;
    state.session = listing.session;
    relayout();
    scheduleRender();
  } catch (error) {
    console.warn(error);
  }
}

async function refreshAlerts() {
  const query = new URLSearchParams({ listing: state.listing.id });
  if (state.day) query.set("date", state.day);
  const data = await getJson(`/api/alerts?${query}`);
  for (const record of data.alerts) addAlert(record);
}

// Fetch what was committed since the last tick we have (all of the day at first).
function catchUp() {
  if (state.catchingUp) return state.catchingUp;
  state.catchingUp = (async () => {
    const query = new URLSearchParams();
    if (state.pinnedDay) query.set("date", state.pinnedDay);
    const last = state.ticks[state.ticks.length - 1];
    if (last) query.set("since", String(last.ts_us));
    const url = `/api/listings/${encodeURIComponent(state.listing.id)}/ticks?${query}`;
    const data = await getJson(url);
    if (!last && data.date && state.day === null) resetDay(data.date);
    addTicks(data.ticks);
    await refreshAlerts();
    state.loaded = true;
  })().finally(() => {
    state.catchingUp = null;
  });
  return state.catchingUp;
}

// ---- transports ---------------------------------------------------------------------------

function setStatus(stateName, text) {
  const status = $("status");
  status.dataset.state = stateName;
  status.dataset.transport = state.transport;
  status.textContent = text;
}

function connectEvents() {
  const source = new EventSource(`/api/events?listing=${encodeURIComponent(state.listing.id)}`);
  state.source = source;
  source.addEventListener("open", () => {
    state.failures = 0;
    setStatus("live", "live");
    // anything committed while we were away (or before the stream opened)
    catchUp().catch((error) => console.warn(error));
  });
  source.addEventListener("ticks", (event) => {
    addTicks(JSON.parse(event.data).ticks);
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
      setStatus("reconnecting", "reconnecting…");
    }
  });
}

function startPolling() {
  setStatus("polling", `polling every ${POLL_MS / 1000} s`);
  const tick = async () => {
    try {
      await catchUp();
      setStatus("polling", `polling every ${POLL_MS / 1000} s`);
    } catch (error) {
      setStatus("offline", "server unreachable, retrying");
    }
    state.pollTimer = setTimeout(tick, POLL_MS);
  };
  tick();
}

// ---- drawing ------------------------------------------------------------------------------

function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => {
    state.renderQueued = false;
    render();
  });
}

function render() {
  renderSummary();
  renderRules();
  renderChart();
}

function figure(name, label, value, tone) {
  const box = el("div", { class: "figure", "data-figure": name });
  box.append(el("div", { class: "label" }, label));
  box.append(el("div", { class: `value${tone ? ` ${tone}` : ""}` }, value));
  return box;
}

function renderSummary() {
  const listing = state.listing;
  const ticks = state.ticks;
  const boxes = [figure("offer", "offer", money(listing.offer_price))];
  if (ticks.length) {
    const last = ticks[ticks.length - 1];
    let high = ticks[0];
    let low = ticks[0];
    let volume = 0;
    let turnover = 0;
    let priced = 0;
    for (const tick of ticks) {
      if (tick.price > high.price) high = tick;
      if (tick.price < low.price) low = tick;
      if (tick.volume != null) volume += tick.volume;
      if (tick.volume != null && tick.turnover != null) {
        turnover += tick.turnover;
        priced += tick.volume;
      }
    }
    const gain = (last.price / listing.offer_price - 1) * 100;
    const tone = gain >= 0 ? "up" : "down";
    // a day joined late: its first stored tick is not the opening trade (tracker.report)
    const until = state.session && state.session.date === state.day ? state.session.opening_until_us : null;
    const opening = until === null || ticks[0].ts_us <= until ? "open" : "first stored";
    boxes.push(
      figure("last", `last ${clock(last.ts)}`, money(last.price), tone),
      figure("gain", "vs offer", pct(gain), tone),
      figure("market-cap", "market cap", bigMoney(last.price * listing.shares_outstanding)),
      figure("open", `${opening} ${clock(ticks[0].ts)}`, money(ticks[0].price)),
      figure("high", `high ${clock(high.ts)}`, money(high.price)),
      figure("low", `low ${clock(low.ts)}`, money(low.price)),
    );
    if (priced > 0) boxes.push(figure("vwap", "VWAP", money(turnover / priced)));
    boxes.push(figure("volume", "volume", volume.toLocaleString("en-US")));
    boxes.push(figure("ticks", "ticks", ticks.length.toLocaleString("en-US")));
  }
  boxes.push(figure("alerts", "alerts", String(state.alerts.length)));
  $("summary").replaceChildren(...boxes);
}

function renderRules() {
  const fired = new Map();
  for (const alert of [...state.alerts].reverse()) {
    if (!fired.has(alert.record.rule)) fired.set(alert.record.rule, alert.record);
  }
  const rows = state.listing.rules.map((rule) => {
    const row = el("tr", { "data-rule": rule.id });
    const cell = el("td");
    cell.append(el("code", {}, rule.id));
    row.append(cell);
    const unknown = rule.reference === "open" ? "at the open" : "after a close";
    row.append(el("td", { class: "num" }, rule.level === null ? unknown : money(rule.level)));
    const first = fired.get(rule.id);
    row.append(el("td", { class: "num" }, first ? `${clock(first.ts)} at ${money(first.price)}` : "–"));
    return row;
  });
  $("rules").tBodies[0].replaceChildren(...rows);
}

function niceSteps(lo, hi, count) {
  const raw = (hi - lo) / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) || raw;
  const values = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) values.push(v);
  return values;
}

function renderChart() {
  const chart = $("chart");
  const listing = state.listing;
  const ticks = state.ticks;
  const width = Math.max(280, chart.clientWidth || chart.parentNode.clientWidth || 800);
  const height = width < 600 ? 260 : 400;
  const margin = { left: 46, right: width < 600 ? 50 : 64, top: 14, bottom: 26 };
  chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  chart.setAttribute("width", String(width));
  chart.setAttribute("height", String(height));
  chart.dataset.points = String(ticks.length);
  const nodes = [];

  const prices = ticks.map((tick) => tick.price);
  const known = listing.rules.filter((rule) => rule.level !== null);
  // the offer and every level are drawn, unless one would squeeze the day's prices below
  // a tenth of the chart's height (tracker.chart.figure._price_range); those are in the table
  const dayLo = prices.length ? Math.min(...prices) : listing.offer_price;
  const dayHi = prices.length ? Math.max(...prices) : listing.offer_price;
  const daySpan = Math.max(dayHi - dayLo, dayHi * 0.02);
  let lo = Math.min(listing.offer_price, dayLo);
  let hi = Math.max(listing.offer_price, dayHi);
  const levels = [];
  const middle = (dayLo + dayHi) / 2;
  for (const rule of [...known].sort((a, b) => Math.abs(a.level - middle) - Math.abs(b.level - middle))) {
    const wider = [Math.min(lo, rule.level), Math.max(hi, rule.level)];
    const near = wider[1] - wider[0] <= (hi - lo) * (1 + NEAR_SHARE);
    if (!prices.length || near || daySpan / (wider[1] - wider[0]) >= MIN_DAY_SHARE) {
      [lo, hi] = wider;
      levels.push(rule);
    }
  }
  const pad = (hi - lo) * 0.05 || hi * 0.05;
  lo -= pad;
  hi += pad;
  const xMax = Math.max(60, state.xs.length ? state.xs[state.xs.length - 1] : 0);
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const px = (x) => margin.left + (x / xMax) * plotW;
  const py = (price) => margin.top + (1 - (price - lo) / (hi - lo)) * plotH;
  const right = margin.left + plotW;

  // price grid (left) and market cap (right)
  const axis = svg("g", { class: "axis" });
  for (const value of niceSteps(lo, hi, 6)) {
    const y = py(value);
    axis.append(svg("line", { class: "grid", x1: margin.left, x2: right, y1: y, y2: y }));
    axis.append(svg("text", { x: margin.left - 4, y: y + 4, "text-anchor": "end" }, value.toFixed(2)));
    const cap = (value * listing.shares_outstanding) / 1e9;
    axis.append(svg("text", { x: right + 4, y: y + 4 }, `${cap.toFixed(0)}bn`));
  }
  // exchange time at the first trade of each half hour (the PNG labels round times instead)
  let lastSlot = null;
  let lastLabel = -Infinity;
  const room = 40;
  ticks.forEach((tick, i) => {
    const hh = Number(tick.ts.slice(11, 13));
    const mm = Number(tick.ts.slice(14, 16));
    const slot = hh * 2 + (mm >= 30 ? 1 : 0);
    if (slot === lastSlot) return;
    lastSlot = slot;
    const x = px(state.xs[i]);
    if (x - lastLabel < room) return;
    lastLabel = x;
    axis.append(svg("text", { class: "time", x, y: height - 8, "text-anchor": "middle" }, tick.ts.slice(11, 16)));
  });
  nodes.push(axis);

  const dayCuts = cuts();
  for (const cut of dayCuts) {
    const x = px(cut.x);
    nodes.push(svg("line", { class: "cut", "data-phase": cut.phase, x1: x, x2: x, y1: margin.top, y2: margin.top + plotH }));
    const y = margin.top + plotH - 4;
    nodes.push(svg("text", { class: "cut-label", x: x + 4, y, transform: `rotate(-90 ${x + 4} ${y})`, "dominant-baseline": "hanging" }, cut.label));
  }
  const offerY = py(listing.offer_price);
  nodes.push(svg("line", { id: "offer-line", class: "offer", "data-level": listing.offer_price, x1: margin.left, x2: right, y1: offerY, y2: offerY }));
  const labels = [{ attrs: { class: "offer-label" }, y: offerY, text: `offer ${listing.offer_price.toFixed(2)}` }];
  for (const rule of levels) {
    const y = py(rule.level);
    nodes.push(svg("line", { class: "level", "data-rule": rule.id, "data-level": rule.level, x1: margin.left, x2: right, y1: y, y2: y }));
    labels.push({ attrs: { class: "level-label", "data-rule": rule.id }, y, text: `${rule.id} ${rule.level.toFixed(2)}` });
  }
  // labels at the right end, just above their lines, pushed apart so none hides another;
  // drawn after the price line on a white halo (app.css), so the price never covers them
  labels.sort((a, b) => b.y - a.y);
  let floor = Infinity;
  const labelNodes = labels.map((label) => {
    const y = Math.min(label.y - 4, floor - LABEL_PX);
    floor = y;
    return svg("text", { ...label.attrs, x: right - 4, y, "text-anchor": "end" }, label.text);
  });

  if (ticks.length) {
    let d = "";
    ticks.forEach((tick, i) => {
      d += `${i ? "L" : "M"}${px(state.xs[i]).toFixed(1)},${py(tick.price).toFixed(1)}`;
    });
    nodes.push(svg("path", { id: "price-line", d, "data-points": ticks.length }));
    const last = ticks.length - 1;
    nodes.push(svg("circle", { id: "last-point", cx: px(state.xs[last]), cy: py(ticks[last].price), r: 3 }));
  } else {
    nodes.push(svg("text", { class: "empty", x: margin.left + plotW / 2, y: margin.top + plotH / 2, "text-anchor": "middle" }, "waiting for the first tick"));
  }

  nodes.push(...labelNodes);
  for (const alert of state.alerts) {
    const record = alert.record;
    if (record.kind === "source" || record.price == null) continue;
    const x = xOfInstant(alert.tsUs);
    if (x === null) continue;
    const cx = px(x);
    const cy = py(record.price);
    const s = 7;
    const shape = record.direction === "down"
      ? `M${cx - s},${cy - s - 2}L${cx + s},${cy - s - 2}L${cx},${cy - 2}Z`
      : `M${cx - s},${cy + s + 2}L${cx + s},${cy + s + 2}L${cx},${cy + 2}Z`;
    const marker = svg("path", { class: "alert-marker", d: shape, "data-alert-id": record.alert_id, "data-rule": record.rule });
    marker.append(svg("title", {}, `${clock(record.ts)} ${record.rule}: ${record.message}`));
    nodes.push(marker);
  }
  chart.replaceChildren(...nodes);
  const zone = ticks.length ? ticks[0].ts.slice(19) : "";
  const cutOut = dayCuts.length ? `; ${dayCuts.map((cut) => cut.label).join(", ")} cut out at the dashed line` : "";
  $("chart-note").textContent = `Exchange time${zone ? ` (UTC${zone})` : ""}${cutOut}. Right axis: market cap on ${listing.shares_outstanding.toLocaleString("en-US")} shares.`;
}

// ---- start --------------------------------------------------------------------------------

function showListing(listing) {
  document.title = `${listing.name} (${listing.symbol}): live`;
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
  const data = await getJson("/api/listings");
  state.listings = data.listings;
  state.chart = data.chart;
  const wanted = params.get("listing");
  state.listing = state.listings.find((l) => l.id === wanted) || state.listings[0];
  if (state.listing) state.session = state.listing.session;
  if (!state.listing) {
    $("listing-name").textContent = "No listing configured";
    setStatus("offline", "nothing to show");
    return;
  }
  showListing(state.listing);
  resetDay(state.pinnedDay);
  render();
  if (state.transport === "sse") {
    setStatus("connecting", "connecting…");
    connectEvents(); // its "open" fetches the day so far
  } else {
    startPolling();
  }
  window.addEventListener("resize", scheduleRender);
}

start().catch((error) => {
  setStatus("offline", "cannot load");
  $("listing-name").textContent = String(error);
});
