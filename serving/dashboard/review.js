// The review queue page: lists the queue's items (/api/v1/review/items), shows one with its raw record, and
// claims or resolves it with the person's key. window.reviewState says what was shown, for the browser test.
"use strict";

const KEY_STORE = "beejan.review.key", NAME_STORE = "beejan.review.name";
window.reviewState = {ready: false, items: 0, selected: null, lastDecision: null, errors: []};
let nextBefore = null, selected = null;

class Unauthorised extends Error {}

function apiKey() { return sessionStorage.getItem(KEY_STORE) || localStorage.getItem(KEY_STORE); }
function reviewer() { return localStorage.getItem(NAME_STORE) || null; }

async function api(path, body) {
  const headers = {"Content-Type": "application/json"};
  const key = apiKey();
  if (key) headers["X-API-Key"] = key;
  const response = await fetch(path, body === undefined ? {headers}
    : {method: "POST", headers, body: JSON.stringify(body)});
  const payload = await response.json().catch(() => ({}));
  if (response.status === 401) throw new Unauthorised(payload.detail || response.statusText);
  if (!response.ok) {
    const detail = Array.isArray(payload.detail)
      ? payload.detail.map(d => `${d.parameter}: ${d.problem}`).join("; ") : payload.detail;
    throw new Error(detail || `HTTP ${response.status}`);
  }
  return payload;
}

const when = text => text ? text.replace("T", " ").slice(0, 16) : "–";

function filterQuery() {
  const params = new URLSearchParams({limit: "50", status: document.getElementById("filter-status").value});
  for (const [name, id] of [["kind", "filter-kind"], ["source", "filter-source"], ["reason", "filter-reason"]]) {
    const value = document.getElementById(id).value.trim();
    if (value) params.set(name, value);
  }
  if (nextBefore) params.set("before", nextBefore);
  return params.toString();
}

async function loadItems(append = false) {
  if (!append) nextBefore = null;
  const page = await api(`/api/v1/review/items?${filterQuery()}`);
  const body = document.getElementById("items-body");
  if (!append) body.replaceChildren();
  for (const item of page.items) {
    const row = body.insertRow();
    row.dataset.itemId = item.item_id;
    for (const value of [when(item.arrived_at), item.item_kind === "dead_letter" ? "dead letter" : "complaint",
                         item.source, (item.reason || "").slice(0, 80), item.status]) {
      row.insertCell().textContent = value;
    }
    row.addEventListener("click", () => show(item.item_id));
  }
  if (body.rows.length === 0) {
    const cell = body.insertRow().insertCell();
    cell.colSpan = 5; cell.className = "muted"; cell.textContent = "Nothing in the queue for these filters";
  }
  nextBefore = page.next_before;
  document.getElementById("more").hidden = !nextBefore;
  window.reviewState.items = body.querySelectorAll("tr[data-item-id]").length;
  document.getElementById("items-note").textContent = `${window.reviewState.items} shown`;
  document.getElementById("queue-state").textContent = `refreshed ${new Date().toLocaleTimeString("en-GB")}`;
}

async function show(itemId) {
  const item = await api(`/api/v1/review/items/${encodeURIComponent(itemId)}`);
  selected = item;
  for (const row of document.querySelectorAll("#items-body tr")) {
    row.classList.toggle("selected", row.dataset.itemId === itemId);
  }
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = item.item_id;
  document.getElementById("detail-meta").textContent =
    `${item.source} · ${item.reason || ""} · status ${item.status}` +
    (item.claimed_by ? ` · claimed by ${item.claimed_by} ${when(item.claimed_at)}` : "") +
    (item.resolved_by ? ` · decided by ${item.resolved_by} ${when(item.resolved_at)}` : "") +
    (item.outcome ? ` · re-injection: ${item.outcome.result}${item.outcome.complaint_id ? " " + item.outcome.complaint_id : ""}` : "");
  document.getElementById("detail-text").textContent = item.item_kind === "complaint"
    ? `${item.text} — ${item.category} (${item.category_confidence}), ${item.sentiment_label}, ${item.priority}`
    : "The record could not be curated; fix its raw text to re-inject it.";
  document.getElementById("detail-raw").value = item.raw || "";
  document.getElementById("detail-raw").dataset.original = item.raw || "";
  document.getElementById("detail-result").textContent = "";
  window.reviewState.selected = item;
}

async function decide(kind) {
  if (!selected) return;
  const path = `/api/v1/review/items/${encodeURIComponent(selected.item_id)}/${kind === "claim" ? "claim" : "resolve"}`;
  const body = {reviewer: reviewer()};
  if (kind !== "claim") {
    body.action = kind;
    const reason = document.getElementById("detail-reason").value.trim();
    if (reason) body.reason = reason;
  }
  if (kind === "correct") {
    const raw = document.getElementById("detail-raw");
    if (raw.value !== raw.dataset.original) body.raw = raw.value;
    for (const [name, id] of [["category", "detail-category"], ["sentiment", "detail-sentiment"]]) {
      const value = document.getElementById(id).value;
      if (value) body[name] = value;
    }
  }
  const result = document.getElementById("detail-result");
  try {
    const item = await api(path, body);
    result.textContent = `${item.item_id}: ${item.status}`;
    result.className = "ok";
    window.reviewState.lastDecision = item.status;
    await loadItems();
    await show(item.item_id);
    result.textContent = `${item.item_id}: ${item.status}`;
  } catch (error) {
    result.textContent = String(error.message || error);
    result.className = "bad";
    window.reviewState.lastDecision = "refused: " + result.textContent;
  }
}

function askForKey(message) {
  document.getElementById("board").hidden = true;
  document.getElementById("key-form").hidden = false;
  document.getElementById("key-error").textContent = message && apiKey() ? message : "";
}

async function start() {
  const match = location.hash.match(/key=([^&]+)/);
  if (match) {
    sessionStorage.setItem(KEY_STORE, decodeURIComponent(match[1]));
    history.replaceState(null, "", location.pathname);
  }
  document.querySelector("#key-form form").addEventListener("submit", async event => {
    event.preventDefault();
    localStorage.setItem(KEY_STORE, document.getElementById("api-key").value.trim());
    const name = document.getElementById("reviewer-name").value.trim();
    if (name) localStorage.setItem(NAME_STORE, name);
    document.getElementById("key-form").hidden = true;
    document.getElementById("board").hidden = false;
    await begin();
  });
  document.getElementById("forget-key").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE); localStorage.removeItem(KEY_STORE); askForKey("");
  });
  document.getElementById("filters").addEventListener("submit", event => { event.preventDefault(); loadItems(); });
  document.getElementById("more").addEventListener("click", () => loadItems(true));
  for (const kind of ["claim", "accept", "correct", "discard"]) {
    document.getElementById(`do-${kind}`).addEventListener("click", () => decide(kind));
  }
  await begin();
}

async function begin() {
  try {
    await loadItems();
    window.reviewState.ready = true;
  } catch (error) {
    if (error instanceof Unauthorised) askForKey(error.message);
    else window.reviewState.errors.push(String(error));
  }
}

start();
