// ssehub page: one EventSource, its state, and the events it receives.
//
// Query parameters: `topic` (repeatable) picks the topics; `event`
// (repeatable) adds event types to listen for (an EventSource only hears the
// types it names); `lastEventId` resumes the first stream after that id, so
// the server replays what came later or says plainly that it cannot.
(function () {
  "use strict";
  var MAX_ITEMS = 200; // the list is capped so the page does not grow forever
  // The browser retries by itself after a dropped stream, but gives up for
  // good after any answer but 200 (a 503 while the server drains or is full);
  // then the page opens a new stream after RETRY_MS, resuming from its last id.
  var RETRY_MS = 3000;
  var REASONS = {
    "history-gone": "the server no longer has the events after your last one; what it still has follows",
    "unknown-id": "the server does not know your last event id; live events follow",
    "history-unavailable": "the server could not read its history; live events follow"
  };
  var $ = function (id) { return document.getElementById(id); };
  var state = $("state"), subscribed = $("subscribed"), lastId = $("last-id"), reconnects = $("reconnects"),
      count = $("count"), list = $("events"), resetBox = $("reset");
  var params = new URLSearchParams(location.search);
  var es = null, topics = [], opened = false, seen = "", retryTimer = 0, nReconnects = 0, nEvents = 0;
  var types = { tick: true, message: true, reset: true, update: true };
  params.getAll("event").forEach(function (t) { if (t) { types[t] = true; } });

  function setState(s) { state.textContent = s; state.dataset.state = s; }

  function topicsFromInput() {
    return $("topics").value.split(",").map(function (t) { return t.trim(); })
      .filter(function (t) { return t.length > 0; });
  }

  function streamURL(from) {
    var q = new URLSearchParams();
    topics.forEach(function (t) { q.append("topic", t); });
    if (from) { q.set("lastEventId", from); }
    var s = q.toString();
    return "/sse" + (s ? "?" + s : "");
  }

  function span(cls, text) {
    var s = document.createElement("span");
    s.className = cls;
    s.textContent = text;
    return s;
  }

  function show(type, e) {
    nEvents++;
    count.textContent = String(nEvents);
    // A reset has no id of its own: the browser's last id is then an old one.
    var id = type === "reset" ? "" : e.lastEventId;
    if (id) { seen = id; lastId.textContent = id; }
    var li = document.createElement("li");
    li.dataset.event = type;
    li.dataset.id = id;
    li.dataset.data = e.data;
    if (type === "reset") { li.className = "reset-event"; }
    li.appendChild(span("type", type));
    li.appendChild(span("data", e.data));
    if (id) { li.appendChild(span("id", "id " + id)); }
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_ITEMS) { list.removeChild(list.lastChild); }
  }

  function onReset(e) {
    var info = {};
    try { info = JSON.parse(e.data) || {}; } catch (err) { info = {}; }
    var reason = String(info.reason || "unknown");
    resetBox.textContent = "";
    resetBox.appendChild(span("reset-title", "Events may be missing: "));
    resetBox.appendChild(document.createTextNode((REASONS[reason] || "the server reset the stream") +
      " (" + reason + (info.lastEventId ? ", last id " + info.lastEventId : "") + ")."));
    resetBox.dataset.reason = reason;
    resetBox.hidden = false;
    show("reset", e);
  }

  function listen(source, type) {
    source.addEventListener(type, type === "reset" ? onReset : function (e) { show(type, e); });
  }

  function connect(from) {
    clearTimeout(retryTimer);
    if (es) { es.close(); }
    setState(opened ? "reconnecting" : "connecting");
    subscribed.textContent = topics.length ? topics.join(", ") : "server defaults";
    var source = new EventSource(streamURL(from));
    es = source;
    source.onopen = function () {
      if (opened) { nReconnects++; reconnects.textContent = String(nReconnects); }
      opened = true;
      setState("open");
    };
    source.onerror = function () {
      if (source.readyState !== EventSource.CLOSED) {
        setState(opened ? "reconnecting" : "connecting");
        return;
      }
      setState("closed");
      retryTimer = setTimeout(function () { connect(seen || from); }, RETRY_MS);
    };
    Object.keys(types).forEach(function (t) { listen(source, t); });
  }

  // subscribe starts a new subscription: a new list, not a reconnect.
  function subscribe(next, from) {
    topics = next;
    opened = false;
    seen = "";
    list.textContent = "";
    resetBox.hidden = true;
    connect(from);
  }

  $("topics-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    subscribe(topicsFromInput(), "");
  });

  $("publish-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var type = $("pub-event").value.trim() || "message";
    if (!types[type]) { types[type] = true; if (es) { listen(es, type); } }
    var raw = $("pub-data").value, data;
    try { data = JSON.parse(raw); } catch (err) { data = raw; }
    var out = $("pub-result");
    out.textContent = "publishing…";
    fetch("/publish", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ topic: $("pub-topic").value.trim(), event: type, data: data })
    }).then(function (r) {
      return r.json().then(function (body) {
        out.textContent = r.ok ? "published " + body.id : r.status + " " + body.code + ": " + body.message;
      });
    }).catch(function (err) { out.textContent = "failed: " + err; });
  });

  if (params.getAll("topic").length) { $("topics").value = params.getAll("topic").join(", "); }
  subscribe(topicsFromInput(), params.get("lastEventId") || "");
})();
