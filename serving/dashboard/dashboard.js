// The operations dashboard: reads the aggregates API with the user's key and draws the charts with plotly.js.
// window.dashboardState says what was drawn (points per chart), for people debugging and for the browser test.
"use strict";

const REFRESH_MS = 60000, LIVE_REFRESH_MS = 15000, KEY_STORE = "beejan.dashboard.key";
const CATEGORY_COLOURS = {"Network": "#2b6cb0", "Billing": "#d69e2e", "Customer Service": "#805ad5", "Other": "#718096"};
const CHANNEL_COLOURS = {"twitter": "#1da1f2", "webform": "#38a169", "sms": "#dd6b20", "phone": "#c53030"};
const PRIORITY_COLOURS = {"P1": "#c53030", "P2": "#dd6b20", "P3": "#d69e2e", "P4": "#a0aec0"};
const LAYOUT = {margin: {l: 44, r: 12, t: 8, b: 36}, paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
                font: {family: "system-ui, DejaVu Sans, sans-serif", size: 12, color: "#1d2433"},
                legend: {orientation: "h", y: -0.18}, xaxis: {gridcolor: "#eef1f6"}, yaxis: {gridcolor: "#eef1f6", rangemode: "tozero"}};
const CONFIG = {displayModeBar: false, responsive: true};

window.dashboardState = {ready: false, refreshedAt: null, rendered: {}, errors: []};

class Unauthorised extends Error {}

function apiKey() { return sessionStorage.getItem(KEY_STORE) || localStorage.getItem(KEY_STORE); }

async function api(path) {
  const headers = {};
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(path, {headers});
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    throw new Unauthorised(body.detail || response.statusText);
  }
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function groupSeries(rows, keyField, xField, yField) {
  const byKey = new Map();
  for (const row of rows) {
    if (!byKey.has(row[keyField])) byKey.set(row[keyField], {x: [], y: []});
    byKey.get(row[keyField]).x.push(row[xField]);
    byKey.get(row[keyField]).y.push(row[yField]);
  }
  return byKey;
}

// Every UTC day from `first` to `last` ("YYYY-MM-DD", both included).
function everyDay(first, last) {
  const days = [];
  for (let day = new Date(first + "T00:00:00Z"); day <= new Date(last + "T00:00:00Z"); day.setUTCDate(day.getUTCDate() + 1)) {
    days.push(day.toISOString().slice(0, 10));
  }
  return days;
}

// Each series on every day of `days`, `fill` where it has no point: a day without complaints is a zero on the chart,
// not a straight line drawn across the gap (and a day without cases, null, is a break in an SLA line).
function onEveryDay(byKey, days, fill) {
  for (const series of byKey.values()) {
    const values = new Map(series.x.map((x, i) => [x, series.y[i]]));
    series.x = days;
    series.y = days.map(day => values.has(day) ? values.get(day) : fill);
  }
  return byKey;
}

// The last day of a range whose end is exclusive.
function lastDayBefore(end) { return new Date(Date.parse(end) - 1).toISOString().slice(0, 10); }

function draw(id, traces, layout = {}) {
  const element = document.getElementById(id);
  const points = traces.reduce((sum, trace) => sum + (trace.y ? trace.y.length : 0), 0);
  if (points === 0) {
    Plotly.purge(element);
    element.innerHTML = '<div class="empty">No data for this period yet</div>';
  } else {
    if (element.querySelector(".empty")) element.innerHTML = "";
    // A fresh layout object per chart: plotly writes computed ranges into the layout it is given.
    Plotly.react(element, traces, structuredClone({...LAYOUT, ...layout}), CONFIG);
  }
  window.dashboardState.rendered[id] = points;
}

function stacked(byKey, colours, type) {
  // Series in the colour map's order (the same stacking and legend in every chart), others after them.
  const order = Object.keys(colours);
  const rank = name => (order.indexOf(name) + order.length + 1) % (order.length + 1);
  return [...byKey.entries()].sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b)).map(([name, s]) => ({
    name, x: s.x, y: s.y, type: type, marker: {color: colours[name]}, line: {color: colours[name], width: 2},
    hovertemplate: `${name}: %{y}<extra></extra>`}));
}

function formatNumber(value) { return value === null || value === undefined ? "–" : Number(value).toLocaleString("en-GB"); }

function renderSummary(summary) {
  document.getElementById("as-of").textContent = summary.as_of
    ? `data up to ${summary.as_of.replace("T", " ").replace("Z", " UTC")}` : "no complaints yet";
  document.getElementById("kpi-complaints").textContent = formatNumber(summary.complaints);
  const delta = document.getElementById("kpi-delta");
  if (summary.previous_days_with_data >= 5) {  // a comparison only against a week that mostly has data
    const change = (summary.complaints - summary.previous_7_day_mean) / summary.previous_7_day_mean * 100;
    delta.textContent = `${change >= 0 ? "▲" : "▼"} ${Math.abs(change).toFixed(0)}% vs 7-day mean (${formatNumber(summary.previous_7_day_mean)})`;
    delta.className = "delta " + (change > 10 ? "up" : change < -10 ? "down" : "muted");
  } else { delta.textContent = "no full previous week to compare yet"; delta.className = "delta muted"; }
  document.getElementById("kpi-p1").textContent = formatNumber(summary.p1);
  document.getElementById("kpi-negative").textContent = summary.complaints ? `${(summary.negative_share * 100).toFixed(0)}%` : "–";
  document.getElementById("kpi-alerts").textContent = formatNumber(summary.open_alerts);
  document.getElementById("kpi-dead").textContent = formatNumber(summary.dead_letters);
  document.getElementById("kpi-dead-day").textContent = summary.dead_letter_day
    ? `dead letter, ingested ${summary.dead_letter_day}` : "dead letter";
}

function renderHourly(volumes) {
  draw("chart-hourly", stacked(groupSeries(volumes.series, "key", "bucket", "complaints"), CATEGORY_COLOURS, "bar"),
       {barmode: "stack"});
}

function renderDaily(id, volumes, colours) {
  const rows = volumes.series.map(row => ({...row, bucket: row.bucket.slice(0, 10)}));  // a date axis, not hours
  const days = everyDay(volumes.start.slice(0, 10), lastDayBefore(volumes.end));
  const traces = stacked(onEveryDay(groupSeries(rows, "key", "bucket", "complaints"), days, 0), colours, "scatter");
  traces.forEach(trace => { trace.mode = "lines+markers"; });
  draw(id, traces, {xaxis: {gridcolor: "#eef1f6", type: "date", tickformat: "%d %b", dtick: 86400000 * (days.length > 60 ? 2 : 1)}});
}

function renderLive(live) {
  const chart = document.getElementById("chart-live");
  if (!live.available) {
    document.getElementById("live-note").textContent = "no streaming job has written aggregates yet";
    chart.hidden = true;
    window.dashboardState.rendered["chart-live"] = 0;
    return;
  }
  document.getElementById("live-note").textContent =
    `from the streaming job, newest minute ${live.newest_minute.slice(11, 16)} UTC, refreshed every 15 s`;
  chart.hidden = false;
  draw("chart-live", stacked(groupSeries(live.series, "category", "minute_start", "complaints"), CATEGORY_COLOURS, "bar"),
       {barmode: "stack"});
}

function renderPriority(mix) {
  const categories = [...new Set(mix.items.map(row => row.category))];
  const traces = ["P1", "P2", "P3", "P4"].map(priority => ({
    name: priority, type: "bar", orientation: "h", marker: {color: PRIORITY_COLOURS[priority]},
    y: categories,
    x: categories.map(c => (mix.items.find(row => row.category === c && row.priority === priority) || {complaints: 0}).complaints),
    hovertemplate: `${priority}: %{x}<extra></extra>`}));
  draw("chart-priority", mix.items.length ? traces : [],
       {barmode: "stack", margin: {l: 120, r: 12, t: 8, b: 36}, yaxis: {automargin: true}});
}

function renderForecast(data) {
  const note = document.getElementById("forecast-note");
  if (!data.available || data.forecast.length === 0) {
    note.textContent = "run `complaints model forecast` to see one";
    draw("chart-forecast", []);
    return;
  }
  const model = data.backtest.filter(row => row.scope === "all");
  const ours = model.find(row => row.method === "poisson_weekly"), naive = model.find(row => row.method === "seasonal_naive");
  note.textContent = ours && naive
    ? `backtest error ${(ours.wape * 100).toFixed(1)}% vs ${(naive.wape * 100).toFixed(1)}% seasonal-naive`
    : "daily, all channels";
  const x = data.forecast.map(row => row.forecast_date);
  const actual = data.actuals.length === 0 ? {x: [], y: []} : onEveryDay(new Map([["actual", {
    x: data.actuals.map(row => row.day), y: data.actuals.map(row => row.complaints)}]]),
    everyDay(data.actuals[0].day, data.actuals[data.actuals.length - 1].day), 0).get("actual");
  draw("chart-forecast", [
    {name: "actual", x: actual.x, y: actual.y,
     type: "scatter", mode: "lines+markers", line: {color: "#1d2433", width: 2}},
    {name: "90% band", x: x.concat(x.slice().reverse()),
     y: data.forecast.map(row => row.upper).concat(data.forecast.map(row => row.lower).reverse()),
     type: "scatter", fill: "toself", fillcolor: "rgba(43,108,176,0.15)", line: {width: 0}, hoverinfo: "skip"},
    {name: "forecast", x: x, y: data.forecast.map(row => Math.round(row.predicted)), type: "scatter",
     mode: "lines", line: {color: "#2b6cb0", width: 2, dash: "dash"}}]);
}

function renderAlerts(data) {
  const body = document.getElementById("alerts-body");
  body.replaceChildren();
  if (data.items.length === 0) {
    const row = body.insertRow(); const cell = row.insertCell();
    cell.colSpan = 5; cell.className = "muted"; cell.textContent = "No spikes in the last 24 hours";
  }
  for (const alert of data.items.slice(0, 12)) {
    const row = body.insertRow();
    row.insertCell().textContent = alert.minute_start.replace("T", " ").slice(0, 16);
    row.insertCell().textContent = alert.scope;
    row.insertCell().textContent = formatNumber(alert.complaints);
    row.insertCell().textContent = Number(alert.baseline_mean).toFixed(1);
    const severity = row.insertCell();
    severity.textContent = alert.severity; severity.className = `sev-${alert.severity}`;
  }
  window.dashboardState.rendered["alerts"] = data.items.length;
}

function renderPhrases(data) {
  const container = document.getElementById("phrases");
  container.replaceChildren();
  let count = 0;
  for (const [category, phrases] of Object.entries(data.categories)) {
    const block = document.createElement("div");
    const title = document.createElement("h4");
    title.textContent = category; title.style.color = CATEGORY_COLOURS[category] || "inherit";
    const list = document.createElement("ol");
    for (const phrase of phrases.slice(0, 6)) {
      const item = document.createElement("li");
      item.textContent = phrase.phrase + " ";
      const count_ = document.createElement("span"); count_.textContent = `(${phrase.count})`;
      item.appendChild(count_); list.appendChild(item); count += 1;
    }
    block.append(title, list); container.appendChild(block);
  }
  window.dashboardState.rendered["phrases"] = count;
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} d`;
}

function cells(row, values) {
  for (const value of values) row.insertCell().textContent = value;
}

function status(row, good, text) {
  const cell = row.insertCell();
  cell.textContent = text; cell.className = good ? "ok" : "bad";
}

function emptyRow(body, columns, text) {
  const cell = body.insertRow().insertCell();
  cell.colSpan = columns; cell.className = "muted"; cell.textContent = text;
}

const when = text => text ? text.replace("T", " ").slice(0, 16) : "–";

function renderHealth(health) {
  const channels = document.getElementById("health-channels");
  channels.replaceChildren();
  for (const channel of health.channels) {
    const row = channels.insertRow();
    cells(row, [channel.channel, when(channel.last_record_at), duration(channel.silent_seconds),
                duration(channel.max_silence_seconds), when(channel.complete_through)]);
    status(row, !channel.silent && channel.last_record_at, channel.silent ? "silent" : channel.last_record_at ? "ok" : "no data");
  }
  const alerts = document.getElementById("health-alerts");
  alerts.replaceChildren();
  if (health.alerts.error) emptyRow(alerts, 4, health.alerts.error);
  else if (!health.alerts.source) emptyRow(alerts, 4, "Alertmanager not configured (complaints serve --alertmanager-url)");
  else if (health.alerts.items.length === 0) emptyRow(alerts, 4, "No open alerts");
  for (const alert of health.alerts.items) {
    const row = alerts.insertRow();
    cells(row, [alert.alert, alert.source || "–", alert.severity || "–", when(alert.since)]);
    row.title = alert.summary || "";
  }
  const runs = document.getElementById("health-runs");
  runs.replaceChildren();
  if (health.runs.length === 0) emptyRow(runs, 6, "No batch run recorded in this output directory");
  for (const run of health.runs.slice(0, 8)) {
    const row = runs.insertRow();
    const sources = Object.values(run.sources);
    const read = sources.reduce((sum, s) => sum + s.read, 0), rejected = sources.reduce((sum, s) => sum + s.rejected, 0);
    cells(row, [when(run.finished_at), run.batch_date || "–"]);
    status(row, run.status === "succeeded", run.status);
    cells(row, [formatNumber(read), read ? `${formatNumber(rejected)} (${(rejected / read * 100).toFixed(1)}%)` : "–",
                run.refused_because || run.quality_warnings.join("; ") || ""]);
  }
  const byChannel = new Map();
  for (const run of health.runs.slice().reverse()) {
    for (const [source, counts] of Object.entries(run.sources)) {
      if (!byChannel.has(source)) byChannel.set(source, {x: [], y: []});
      byChannel.get(source).x.push(run.finished_at);
      byChannel.get(source).y.push(Math.round(counts.reject_ratio * 1000) / 10);
    }
  }
  const traces = stacked(byChannel, CHANNEL_COLOURS, "scatter");
  traces.forEach(trace => { trace.mode = "lines+markers"; trace.hovertemplate = `${trace.name}: %{y}%<extra></extra>`; });
  const limit = health.limits.max_reject_ratio * 100;
  draw("chart-reject-trend", traces, {yaxis: {gridcolor: "#eef1f6", rangemode: "tozero", ticksuffix: "%"},
       shapes: traces.length ? [{type: "line", xref: "paper", x0: 0, x1: 1, y0: limit, y1: limit,
                                 line: {color: "#c53030", dash: "dot", width: 1}}] : []});
  const queue = health.review_queue;
  document.getElementById("review-queue").textContent =
    `Review queue: ${formatNumber(queue.open)} open, ${formatNumber(queue.claimed)} claimed, ` +
    `${formatNumber(queue.corrected)} corrected, ${formatNumber(queue.reinjected)} re-injected, ` +
    `${formatNumber(queue.discarded)} discarded (flagged complaints and dead letters; /api/v1/review/items)`;
  const silent = health.channels.filter(c => c.silent).length;
  document.getElementById("health-note").textContent =
    `${silent ? `${silent} silent channel(s)` : "all channels within their silence limits"}, ` +
    `${health.alerts.items.length} open alert(s), checked ${when(health.checked_at)} UTC`;
  window.dashboardState.rendered["health-channels"] = health.channels.length;
  window.dashboardState.rendered["health-runs"] = health.runs.length;
}

function renderSla(report) {
  const days = everyDay(report.start, report.end);
  const byDay = new Map(report.groups.map(g => [g.key, g]));
  const share = (group, target) => !group || group[`${target}_compliance`] === null ? null
    : Math.round(group[`${target}_compliance`] * 1000) / 10;
  const traces = [["first_response", "first response", "#2b6cb0"], ["resolution", "resolution", "#38a169"]]
    .map(([target, name, colour]) => ({name, x: days, y: days.map(day => share(byDay.get(day), target)), type: "scatter",
      mode: "lines+markers", line: {color: colour, width: 2}, hovertemplate: `${name}: %{y}%<extra></extra>`}));
  const decided = report.groups.reduce((sum, g) => sum + g.first_response_met + g.first_response_breached, 0);
  draw("chart-sla", decided ? traces : [], {yaxis: {gridcolor: "#eef1f6", range: [0, 105], ticksuffix: "%"},
       xaxis: {gridcolor: "#eef1f6", type: "date", tickformat: "%d %b"}});
  const body = document.getElementById("sla-at-risk");
  body.replaceChildren();
  if (report.at_risk.length === 0) emptyRow(body, 5, "No open case about to breach");
  for (const item of report.at_risk.slice(0, 8)) {
    const target = item.first_response === "at_risk" ? "first_response" : "resolution";
    cells(body.insertRow(), [item.case_id, item.priority, item.route_queue, when(item[`${target}_due`]),
                             target.replace("_", " ")]);
  }
  const cases = report.groups.reduce((sum, g) => sum + g.cases, 0);
  document.getElementById("sla-note").textContent =
    `${formatNumber(cases)} cases since ${report.start}, ${formatNumber(report.at_risk_total)} about to breach, ` +
    `${formatNumber(report.breached_total)} breached (compliance per day of first contact)`;
  window.dashboardState.rendered["sla-at-risk"] = report.at_risk.length;
}

async function refresh() {
  const state = window.dashboardState;
  const tasks = [
    // the SLA panel ends on the dashboard's "today" (the newest complaint's day), judged as of now
    api("/api/v1/summary").then(summary => {
      renderSummary(summary);
      return api("/api/v1/sla?by=day" + (summary.day ? `&end=${summary.day}` : "")).then(renderSla);
    }),
    api("/api/v1/volumes?granularity=hour&by=category").then(renderHourly),
    api("/api/v1/volumes?granularity=day&by=category").then(v => renderDaily("chart-category", v, CATEGORY_COLOURS)),
    api("/api/v1/volumes?granularity=day&by=source").then(v => renderDaily("chart-channel", v, CHANNEL_COLOURS)),
    api("/api/v1/priority-mix?days=7").then(renderPriority),
    api("/api/v1/forecast").then(renderForecast),
    api("/api/v1/alerts").then(renderAlerts),
    api("/api/v1/phrases?days=7").then(renderPhrases),
    api("/api/v1/volumes/live?minutes=120").then(renderLive),
    api("/api/v1/health").then(renderHealth),
  ];
  const results = await Promise.allSettled(tasks);
  const failures = results.filter(r => r.status === "rejected").map(r => r.reason);
  if (failures.some(f => f instanceof Unauthorised)) { askForKey(failures.find(f => f instanceof Unauthorised).message); return false; }
  state.errors = failures.map(f => String(f));
  const pill = document.getElementById("refresh-state");
  pill.textContent = failures.length ? `refresh failed: ${failures.length} panels` : `refreshed ${new Date().toLocaleTimeString("en-GB")}`;
  pill.classList.toggle("stale", failures.length > 0);
  state.refreshedAt = new Date().toISOString();
  state.ready = true;
  return true;
}

function askForKey(message) {
  document.getElementById("board").hidden = true;
  document.getElementById("key-form").hidden = false;
  document.getElementById("key-error").textContent = message && apiKey() ? message : "";
}

function takeKeyFromAddress() {
  // A link like /dashboard#key=... sets the key once; it is removed from the address bar at once.
  const match = location.hash.match(/key=([^&]+)/);
  if (match) {
    sessionStorage.setItem(KEY_STORE, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);
  }
}

async function start() {
  takeKeyFromAddress();
  document.querySelector("#key-form form").addEventListener("submit", async event => {
    event.preventDefault();
    localStorage.setItem(KEY_STORE, document.getElementById("api-key").value.trim());
    document.getElementById("key-form").hidden = true;
    document.getElementById("board").hidden = false;
    if (await refresh()) schedule();
  });
  document.getElementById("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE); localStorage.removeItem(KEY_STORE); askForKey("");
  });
  if (await refresh()) schedule();
}

let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  setInterval(refresh, REFRESH_MS);
  setInterval(() => api("/api/v1/volumes/live?minutes=120").then(renderLive).catch(() => {}), LIVE_REFRESH_MS);
}

start();
