// ssehub page: one subscription through the ssehub.js client, its state, and
// the events it receives.
//
// Query parameters: `topic` (repeatable) picks the topics; `event`
// (repeatable) adds event types to listen for (an EventSource only hears the
// types it names); `lastEventId` resumes the first stream after that id, so
// the server replays what came later or says plainly that it cannot.
//
// Auth: the page first connects without a token (a same-site cookie rides
// along, if there is one). A 401 shows the token field; with a token pasted,
// the client buys a ticket for every connection.
import { bearerTickets, subscribe } from "./ssehub.js";

const MAX_ITEMS = 200; // the list is capped so the page does not grow forever
const REASONS = {
  "history-gone": "the server no longer has the events after your last one; what it still has follows",
  "unknown-id": "the server does not know your last event id; live events follow",
  "history-unavailable": "the server could not read its history; live events follow",
};
const $ = (id) => document.getElementById(id);
const state = $("state"), subscribed = $("subscribed"), lastId = $("last-id"), reconnects = $("reconnects"),
  count = $("count"), role = $("role"), list = $("events"), resetBox = $("reset"), refused = $("refused"),
  tokenCard = $("token-card");
const params = new URLSearchParams(location.search);
const types = new Set(["tick", "message", "update"]);
params.getAll("event").forEach((t) => { if (t) types.add(t); });
let sub = null, generation = 0, token = "", nEvents = 0, shownId = "";

function topicsFromInput() {
  return $("topics").value.split(",").map((t) => t.trim()).filter((t) => t.length > 0);
}

function span(cls, text) {
  const s = document.createElement("span");
  s.className = cls;
  s.textContent = text;
  return s;
}

function show(type, id, data) {
  nEvents++;
  count.textContent = String(nEvents);
  if (id) { shownId = id; lastId.textContent = id; }
  const li = document.createElement("li");
  li.dataset.event = type;
  li.dataset.id = id;
  li.dataset.data = data;
  if (type === "reset") li.className = "reset-event";
  li.appendChild(span("type", type));
  li.appendChild(span("data", data));
  if (id) li.appendChild(span("id", "id " + id));
  list.insertBefore(li, list.firstChild);
  while (list.children.length > MAX_ITEMS) list.removeChild(list.lastChild);
}

function showReset(info, data) {
  const reason = String(info.reason || "unknown");
  resetBox.textContent = "";
  resetBox.appendChild(span("reset-title", "Events may be missing: "));
  resetBox.appendChild(document.createTextNode((REASONS[reason] || "the server reset the stream") +
    " (" + reason + (info.lastEventId ? ", last id " + info.lastEventId : "") + ")."));
  resetBox.dataset.reason = reason;
  resetBox.hidden = false;
  show("reset", "", data);
}

// showRefusal says what the server refused and what happens next, so a
// refusal never looks like endless reconnecting.
function showRefusal(err) {
  if (!err) {
    refused.hidden = true;
    return;
  }
  let next = "Not retrying: change the topics or the token.";
  if (err.retrying) {
    next = err.retryAfter != null ? "Trying again in " + Math.ceil(err.retryAfter / 1000) + " s." : "Trying again.";
  } else if (err.status === 401) {
    next = "Not retrying: paste a token below.";
    tokenCard.hidden = false;
  }
  refused.textContent = "";
  refused.appendChild(span("refused-title", "Refused: "));
  refused.appendChild(document.createTextNode(err.status + " " + (err.code || "error") +
    (err.message ? " (" + err.message + ")" : "") + ". " + next));
  refused.dataset.status = String(err.status);
  refused.dataset.code = err.code || "";
  refused.hidden = false;
}

function render(s) {
  state.textContent = s.state;
  state.dataset.state = s.state;
  reconnects.textContent = String(s.reconnects);
  role.textContent = { single: "own", leader: "shared, this tab leads", follower: "shared, another tab leads" }[s.role];
  role.dataset.role = s.role;
  showRefusal(s.error);
}

// fnv names a token's group without putting the token in a lock name:
// tabs share a stream only with tabs that use the same credential.
function fnv(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16);
}

// open starts a subscription to topics, resuming after `from`.
function open(topics, from) {
  const gen = ++generation;
  if (sub) sub.close();
  const current = (f) => (...args) => { if (gen === generation) f(...args); };
  const on = {};
  types.forEach((t) => { on[t] = current((e) => show(t, e.id, e.data)); });
  subscribed.textContent = topics.length ? topics.join(", ") : "server defaults";
  sub = subscribe("", {
    topics, on, lastEventId: from,
    onReset: current(showReset),
    onState: current((_, s) => render(s)),
    getTicket: token ? bearerTickets("", token) : undefined,
    group: token ? "token-" + fnv(token) : "",
  });
  render(sub);
}

// resubscribe starts a new subscription: a new list, not a reconnect.
function resubscribe(topics, from) {
  list.textContent = "";
  resetBox.hidden = true;
  shownId = "";
  open(topics, from);
}

$("topics-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  resubscribe(topicsFromInput(), "");
});

$("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  token = $("token").value.trim();
  tokenCard.hidden = true;
  // The same subscription with a credential: it carries on after the last
  // event shown, so nothing is lost or shown twice.
  open(topicsFromInput(), shownId || params.get("lastEventId") || "");
});

$("publish-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const type = $("pub-event").value.trim() || "message";
  if (!types.has(type)) {
    types.add(type);
    const gen = generation;
    sub.listen(type, (e) => { if (gen === generation) show(type, e.id, e.data); });
  }
  const raw = $("pub-data").value;
  let data;
  try { data = JSON.parse(raw); } catch { data = raw; }
  const out = $("pub-result");
  out.textContent = "publishing…";
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  fetch("/publish", {
    method: "POST", headers,
    body: JSON.stringify({ topic: $("pub-topic").value.trim(), event: type, data }),
  }).then((r) => r.json().then((body) => {
    out.textContent = r.ok ? "published " + body.id : r.status + " " + body.code + ": " + body.message;
  })).catch((err) => { out.textContent = "failed: " + err; });
});

if (params.getAll("topic").length) $("topics").value = params.getAll("topic").join(", ");
resubscribe(topicsFromInput(), params.get("lastEventId") || "");
