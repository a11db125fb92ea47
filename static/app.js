// ssehub page: one EventSource, its state, and the events it receives.
(function () {
  "use strict";
  var MAX_ITEMS = 200; // the list is capped so the page does not grow forever
  var $ = function (id) { return document.getElementById(id); };
  var state = $("state"), lastId = $("last-id"), reconnects = $("reconnects"),
      count = $("count"), list = $("events"), resetBox = $("reset");
  var es = null, opened = false, nReconnects = 0, nEvents = 0;
  var types = { tick: true, message: true, reset: true, update: true };

  function setState(s) { state.textContent = s; state.dataset.state = s; }

  function topicsFromInput() {
    return $("topics").value.split(",").map(function (t) { return t.trim(); })
      .filter(function (t) { return t.length > 0; });
  }

  function streamURL(topics) {
    var q = topics.map(function (t) { return "topic=" + encodeURIComponent(t); }).join("&");
    return "/sse" + (q ? "?" + q : "");
  }

  function show(type, e) {
    nEvents++;
    count.textContent = String(nEvents);
    if (e.lastEventId) { lastId.textContent = e.lastEventId; }
    var li = document.createElement("li");
    li.dataset.event = type;
    li.dataset.id = e.lastEventId || "";
    li.dataset.data = e.data;
    if (type === "reset") { li.className = "reset-event"; }
    var t = document.createElement("span"); t.className = "type"; t.textContent = type;
    var d = document.createElement("span"); d.className = "data"; d.textContent = e.data;
    var i = document.createElement("span"); i.className = "id"; i.textContent = e.lastEventId ? "id " + e.lastEventId : "";
    li.appendChild(t); li.appendChild(d); li.appendChild(i);
    list.insertBefore(li, list.firstChild);
    while (list.children.length > MAX_ITEMS) { list.removeChild(list.lastChild); }
  }

  function onReset(e) {
    var info = {};
    try { info = JSON.parse(e.data); } catch (err) { info = { reason: e.data }; }
    resetBox.hidden = false;
    resetBox.textContent = "Reset: " + (info.reason || "unknown") +
      (info.lastEventId ? " (last id " + info.lastEventId + ")" : "") +
      ". Events before this point may be missing.";
    show("reset", e);
  }

  function listen(type) {
    if (!es) { return; }
    es.addEventListener(type, type === "reset" ? onReset : function (e) { show(type, e); });
  }

  function connect(topics) {
    if (es) { es.close(); }
    opened = false;
    setState("connecting");
    es = new EventSource(streamURL(topics));
    window.ssehubSource = es;
    es.onopen = function () {
      if (opened) { nReconnects++; reconnects.textContent = String(nReconnects); }
      opened = true;
      setState("open");
    };
    es.onerror = function () {
      setState(es.readyState === EventSource.CLOSED ? "closed" : (opened ? "reconnecting" : "connecting"));
    };
    Object.keys(types).forEach(listen);
  }

  $("topics-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    list.textContent = "";
    resetBox.hidden = true;
    connect(topicsFromInput());
  });

  $("publish-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var type = $("pub-event").value.trim() || "message";
    if (!types[type]) { types[type] = true; listen(type); }
    var raw = $("pub-data").value, data;
    try { data = JSON.parse(raw); } catch (err) { data = raw; }
    var out = $("pub-result");
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

  var params = new URLSearchParams(location.search);
  if (params.getAll("topic").length) { $("topics").value = params.getAll("topic").join(","); }
  connect(topicsFromInput());
})();
