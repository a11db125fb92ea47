// ssehub.js: a dependency-free browser client for ssehub, as a plain ES module.
//
//   import { subscribe, bearerTickets } from "/static/ssehub.js";
//   const sub = subscribe("https://hub.example.com", {
//     topics: ["news"],
//     on: { update: (e) => console.log(e.id, e.data) },   // one handler per event type
//     onReset: (info) => console.warn("events may be missing", info.reason),
//     onState: (state, sub) => console.log(state, sub.lastEventId, sub.error),
//     getTicket: bearerTickets("https://hub.example.com", jwt), // optional, async
//   });
//   sub.close();
//
// What it adds to EventSource: a fresh ticket for every connection (a spent
// one gets 401), resume from the last id it saw on every new EventSource
// (`lastEventId` query), refusals (401/403/503 + Retry-After, read with a
// fetch probe because EventSource hides the status) told apart from network
// blips, and one stream for all tabs of an origin, on the union of their
// topics (Web Locks elect the tab that holds it, BroadcastChannel hands each
// tab the events of its own topics).

// DEFAULT_RETRY is the server's default Sse.Retry; a probe that reaches an
// open stream reads the server's own `retry:` and replaces it.
const DEFAULT_RETRY = 3000;
const MAX_BACKOFF = 30000;
const PROBE_TIMEOUT = 10000;

/** Refused is an answer that is not 200: the server said no, it was reachable. */
export class Refused extends Error {
  constructor(status, code, message, retryAfter) {
    super(status + " " + (code || "error") + (message ? ": " + message : ""));
    this.name = "Refused";
    this.status = status;
    this.code = code || "";
    this.detail = message || "";
    this.retryAfter = retryAfter; // ms, or null when the server gave none
  }
}

// ---- pure logic (exported for node --test) ----

function parseId(id) {
  const m = /^(\d+)-(\d+)$/.exec(id || "");
  return m && [m[1].replace(/^0+(?=\d)/, ""), m[2].replace(/^0+(?=\d)/, "")];
}

function compareDigits(a, b) {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * compareIds orders two ssehub ids, `<ms>-<n>` in memory mode and Redis
 * stream ids `<ms>-<seq>`, numerically part by part (as strings "9-1" would
 * sort after "10-1"). It returns -1, 0 or 1, or NaN when either is not an id.
 */
export function compareIds(a, b) {
  const pa = parseId(a), pb = parseId(b);
  if (!pa || !pb) return NaN;
  return compareDigits(pa[0], pb[0]) || compareDigits(pa[1], pb[1]);
}

/** isNew says whether an event with id is unseen by a reader whose last id is last. */
export function isNew(id, last) {
  return !(compareIds(id, last) <= 0);
}

/**
 * backoff is the delay before reconnect attempt `attempt` (0 for the first):
 * base doubled per attempt up to MAX_BACKOFF, plus up to 50% jitter, the
 * same spread the server gives its own `retry:`.
 */
export function backoff(attempt, base, random = Math.random) {
  const d = Math.min(MAX_BACKOFF, base * 2 ** Math.min(attempt, 16));
  return Math.round(d * (1 + random() / 2));
}

/** parseRetry reads the `retry:` field from the first bytes of a stream, in ms, or null. */
export function parseRetry(text) {
  const m = /^retry:\s?(\d+)\s*$/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** parseRetryAfter reads a Retry-After header (seconds or an HTTP date) as ms, or null. */
export function parseRetryAfter(value, now = Date.now()) {
  if (!value) return null;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

/**
 * refusal says what to do after a refused request: "fatal" when asking again
 * cannot help (401, 403, 400 ...), "later" when the server said when
 * (Retry-After on 503 or 429), "blip" otherwise (retry with backoff).
 */
export function refusal(status, retryAfter) {
  if ((status === 503 || status === 429) && retryAfter != null) return "later";
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) return "fatal";
  return "blip";
}

/** laterId returns the later of two ids; an empty or unplaceable one loses to a real one. */
export function laterId(a, b) {
  if (!parseId(a)) return parseId(b) ? b : a || b || "";
  if (!parseId(b)) return a;
  return compareIds(a, b) < 0 ? b : a;
}

/** topicUnion merges topic lists into one: trimmed, without repeats or blanks, sorted. */
export function topicUnion(...lists) {
  return [...new Set(lists.flat().map((t) => String(t).trim()).filter(Boolean))].sort();
}

/** covers says whether a stream on `have` carries every topic of `want`. */
export function covers(have, want) {
  const set = new Set(have);
  return want.every((t) => set.has(t));
}

/**
 * splitTopic takes the first line off the data of a `withTopic=1` event: the
 * topic (which holds no line break), then the data as published.
 */
export function splitTopic(data) {
  const i = data.indexOf("\n");
  return i < 0 ? ["", data] : [data.slice(0, i), data.slice(i + 1)];
}

/**
 * streamURL is the /sse address for topics, with a ticket, the id to resume
 * after, and withTopic (each event's data then starts with its topic).
 */
export function streamURL(base, topics, { ticket = "", lastEventId = "", withTopic = false } = {}) {
  const q = new URLSearchParams();
  for (const t of topics) q.append("topic", t);
  if (withTopic) q.set("withTopic", "1");
  if (ticket) q.set("ticket", ticket);
  if (lastEventId) q.set("lastEventId", lastEventId);
  const s = q.toString();
  return base + "/sse" + (s ? "?" + s : "");
}

// ---- tickets ----

async function refusedFrom(res) {
  let body = {};
  try { body = await res.json(); } catch { body = {}; }
  return new Refused(res.status, body.code, body.message, parseRetryAfter(res.headers.get("Retry-After")));
}

/**
 * bearerTickets returns a getTicket that buys tickets from ssehub itself
 * (POST base/tickets with the JWT as a bearer token). A cross-origin app
 * that keeps its JWT server-side passes its own getTicket instead.
 */
export function bearerTickets(base, token) {
  return async () => {
    const res = await fetch(base + "/tickets", {
      method: "POST", cache: "no-store", headers: { Authorization: "Bearer " + token },
    });
    if (!res.ok) throw await refusedFrom(res);
    return (await res.json()).ticket;
  };
}

// ---- one EventSource and its reconnects ----

// Conn holds one stream and reports to sink ({event(type, id, data, topic),
// reset(data), state(state, error)}); with withTopic it reads each event's
// topic off its data.
class Conn {
  constructor(base, topics, opts, sink, withTopic = false) {
    this.base = base;
    this.topics = topics;
    this.withTopic = withTopic;
    this.getTicket = opts.getTicket || null;
    this.withCredentials = Boolean(opts.withCredentials);
    this.retry = opts.retry || DEFAULT_RETRY;
    this.sink = sink;
    this.types = new Set();
    this.es = null;
    this.last = "";
    this.attempt = 0;
    this.opened = false;
    this.closed = false;
    this.timer = 0;
    this.gen = 0; // bumped by every connect, reopen and close: a stale await stops
  }

  start(from) {
    this.last = from || "";
    this.connect();
  }

  // reopen moves the stream to other topics, resuming after from (an id it
  // delivered): its readers drop what comes again, so none misses or
  // repeats an event.
  reopen(topics, from) {
    this.gen++;
    clearTimeout(this.timer);
    if (this.es) this.es.close();
    this.es = null;
    this.topics = topics;
    this.last = from;
    this.attempt = 0;
    this.connect();
  }

  listen(type) {
    if (this.types.has(type)) return;
    this.types.add(type);
    if (this.es) this.addListener(this.es, type);
  }

  close() {
    this.gen++;
    this.closed = true;
    clearTimeout(this.timer);
    if (this.es) this.es.close();
    this.es = null;
  }

  waiting() { return this.opened ? "reconnecting" : "connecting"; }

  async connect() {
    if (this.closed) return;
    const gen = ++this.gen;
    this.sink.state(this.waiting(), null);
    let ticket = "";
    try {
      if (this.getTicket) ticket = await this.getTicket();
    } catch (err) {
      if (gen === this.gen) this.failed(err);
      return;
    }
    if (gen !== this.gen) return;
    const url = streamURL(this.base, this.topics, { ticket, lastEventId: this.last, withTopic: this.withTopic });
    const es = new EventSource(url, { withCredentials: this.withCredentials });
    this.es = es;
    es.onopen = () => {
      this.attempt = 0;
      this.opened = true;
      this.sink.state("open", null);
    };
    es.onerror = () => this.onError(es);
    es.addEventListener("reset", (e) => {
      if (es !== this.es) return;
      // A reset has no id; after "unknown-id" the old id is worth nothing.
      if (/"unknown-id"/.test(e.data)) this.last = "";
      this.sink.reset(e.data);
    });
    for (const t of this.types) this.addListener(es, t);
  }

  addListener(es, type) {
    es.addEventListener(type, (e) => {
      if (es !== this.es) return; // a reopen closed it; what it had queued comes again
      if (e.lastEventId) this.last = e.lastEventId;
      const [topic, data] = this.withTopic ? splitTopic(e.data) : ["", e.data];
      this.sink.event(type, e.lastEventId, data, topic);
    });
  }

  onError(es) {
    if (es !== this.es || this.closed) return;
    const blip = es.readyState === EventSource.CONNECTING;
    if (blip && !this.getTicket) {
      // The browser reconnects by itself after the server's retry:, with
      // Last-Event-ID: nothing to do but say so.
      this.sink.state(this.waiting(), null);
      return;
    }
    // A ticket is spent, so the browser's own reconnect would get 401; and
    // a closed EventSource was refused, for a reason only a probe can read.
    es.close();
    this.es = null;
    if (blip) {
      this.sink.state(this.waiting(), null);
      this.schedule(backoff(this.attempt++, this.retry));
    } else {
      this.probe();
    }
  }

  // probe asks the same question with fetch, which shows the status, the
  // error body and Retry-After; a 200 means the refusal is over, and its
  // first bytes carry the server's retry:.
  async probe() {
    const gen = ++this.gen;
    this.sink.state(this.waiting(), null);
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(), PROBE_TIMEOUT);
    try {
      const ticket = this.getTicket ? await this.getTicket() : "";
      const res = await fetch(streamURL(this.base, this.topics, { ticket }), {
        credentials: this.withCredentials ? "include" : "same-origin",
        cache: "no-store", signal: ctl.signal, headers: { Accept: "text/event-stream" },
      });
      if (!res.ok) throw await refusedFrom(res);
      const { value } = await res.body.getReader().read();
      this.retry = parseRetry(new TextDecoder().decode(value)) || this.retry;
      if (gen === this.gen) this.schedule(backoff(this.attempt++, this.retry));
    } catch (err) {
      if (gen === this.gen) this.failed(err);
    } finally {
      clearTimeout(timer);
      ctl.abort();
    }
  }

  failed(err) {
    if (this.closed) return;
    if (!(err instanceof Refused)) {
      this.sink.state(this.waiting(), null);
      this.schedule(backoff(this.attempt++, this.retry));
      return;
    }
    const kind = refusal(err.status, err.retryAfter);
    err.retrying = kind !== "fatal";
    this.sink.state("closed", err);
    if (kind === "later") this.schedule(backoff(0, Math.max(err.retryAfter, 1000)));
    else if (kind === "blip") this.schedule(backoff(this.attempt++, this.retry));
  }

  schedule(ms) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), ms);
  }
}

// ---- the subscription an app holds ----

function plainError(err) {
  return err && {
    status: err.status, code: err.code, message: err.detail, retryAfter: err.retryAfter, retrying: err.retrying,
  };
}

/**
 * Subscription is what subscribe returns: state ("connecting", "open",
 * "reconnecting", "closed"), lastEventId, reconnects, error (the last
 * refusal: {status, code, message, retryAfter, retrying}), role ("single",
 * "leader" or "follower"), listen(type) and close().
 */
class Subscription {
  constructor(topics, opts) {
    this.topics = topics;
    // Shared, a subscription with topics reads the union stream of its
    // group; one on the server's default topics (none named) a stream of its
    // own kind, since the defaults cannot be merged with named topics.
    this.stream = topics.length ? "union" : "defaults";
    this.topicSet = new Set(topics);
    this.on = { ...(opts.on || {}) };
    this.onReset = opts.onReset || (() => {});
    this.onState = opts.onState || (() => {});
    this.state = "connecting";
    this.lastEventId = opts.lastEventId || "";
    this.reconnects = 0;
    this.error = null;
    this.role = "single";
    this.opened = false;
    this.ended = false;
    this.afterReset = false;
    this.detach = () => {};
  }

  types() { return Object.keys(this.on); }

  // wants says whether an event of the group's stream is for this subscription.
  wants(stream, topic) {
    return stream === this.stream && (stream === "defaults" || this.topicSet.has(topic));
  }

  /** listen adds a handler for one more event type. */
  listen(type, handler) {
    this.on[type] = handler;
    this.typeAdded(type);
  }

  typeAdded() {}

  /** close ends the subscription; its handlers are not called again. */
  close() {
    if (this.ended) return;
    this.ended = true;
    this.detach();
    this.error = null;
    this.state = "closed";
    this.onState(this.state, this);
  }

  // Every stream's ids are totally ordered, so an id at or below the last one
  // shown is a repeat (a hand-over or a resume that went back a little).
  deliver(type, id, data) {
    if (id && !this.afterReset && !isNew(id, this.lastEventId)) return;
    if (id) {
      this.lastEventId = id;
      this.afterReset = false;
    }
    const handler = this.on[type];
    if (handler) handler({ type, id, data });
  }

  // After a reset the old last id no longer tells repeats apart (the server
  // may not know it, or it may be later than anything it issued): the next
  // event is taken as it comes. The old id stays the place to resume from
  // until then.
  reset(data) {
    let info = {};
    try { info = JSON.parse(data) || {}; } catch { info = {}; }
    this.afterReset = true;
    this.onReset(info, data);
  }

  setState(state, error) {
    if (state === "connecting" && this.opened) state = "reconnecting";
    if (state === "open" && this.state !== "open") {
      if (this.opened) this.reconnects++;
      this.opened = true;
    }
    this.state = state;
    this.error = error || null;
    this.onState(state, this);
  }

  setRole(role) {
    if (role === this.role) return;
    this.role = role;
    this.onState(this.state, this);
  }
}

// ---- one stream for every tab of an origin ----

let nextSub = 0;
const groups = new Map();

// JOIN_DELAY lets the members' joins after a hand-over arrive before the new
// leader opens the stream, so it opens once on their union, not once per tab.
const JOIN_DELAY = 25;

// Group is this tab's part of a group of tabs sharing one stream. Messages
// on the channel: join/leave (member to leader), hello (a new leader asks
// every member to join again), ev/reset/state (leader to members), each
// naming its stream ("union", or "defaults" for subscriptions on the
// server's default topics).
class Group {
  constructor(name, base, opts) {
    this.name = name;
    this.base = base;
    this.opts = opts;
    this.tab = Math.random().toString(36).slice(2);
    this.subs = new Map(); // member id -> Subscription, this tab's
    this.pos = new Map(); // stream -> the last id seen on it, any topic
    this.streams = null; // leader only: stream -> {conn, members, from, state, error}
    this.release = null;
    this.pending = null; // the AbortController of a queued lock request
    this.channel = new BroadcastChannel("ssehub:" + name);
    this.channel.onmessage = (e) => this.receive(e.data);
    addEventListener("pagehide", () => this.leaveAll());
    addEventListener("pageshow", (e) => { if (e.persisted) this.comeBack(); });
    document.addEventListener("freeze", () => this.stepDown());
    document.addEventListener("resume", () => this.comeBack());
  }

  add(sub) {
    const m = this.tab + ":" + nextSub++;
    this.subs.set(m, sub);
    sub.setRole(this.streams ? "leader" : "follower");
    sub.typeAdded = () => this.announce(m, sub);
    sub.detach = () => {
      this.subs.delete(m);
      this.send({ t: "leave", m, stream: sub.stream });
      if (this.subs.size === 0) this.stepDown();
    };
    this.announce(m, sub);
    this.elect();
  }

  // announce joins sub to its stream. Its last id is the later of its own
  // and the group's position on the stream: every event up to the position
  // went past this tab, so those on its topics are already handed out.
  announce(m, sub) {
    const last = laterId(this.pos.get(sub.stream), sub.lastEventId);
    this.send({ t: "join", m, stream: sub.stream, topics: sub.topics, types: sub.types(), last });
  }

  // send posts msg to the other tabs and handles it here too: a channel does
  // not deliver to its sender.
  send(msg) {
    this.channel.postMessage(msg);
    this.receive(msg);
  }

  receive(msg) {
    if (this.streams && msg.t === "join") this.join(msg);
    else if (this.streams && msg.t === "leave") this.leave(msg);
    else if (msg.t === "hello") this.rejoin();
    else if (msg.t === "ev" || msg.t === "reset" || msg.t === "state") {
      if (msg.t === "ev" && msg.id) this.pos.set(msg.stream, laterId(this.pos.get(msg.stream), msg.id));
      for (const sub of this.subs.values()) {
        if (msg.t === "ev" && sub.wants(msg.stream, msg.topic)) sub.deliver(msg.type, msg.id, msg.data);
        else if (msg.t === "reset" && msg.stream === sub.stream) sub.reset(msg.data);
        else if (msg.t === "state" && msg.stream === sub.stream) sub.setState(msg.state, msg.error);
      }
    }
  }

  // rejoin answers a new leader: the old one is gone, its stream with it.
  rejoin() {
    for (const [m, sub] of this.subs) {
      sub.setState("connecting", null);
      this.announce(m, sub);
    }
  }

  // comeBack rejoins after the tab was frozen or in the back-forward cache:
  // the leader may have changed meanwhile, and not know this tab's topics.
  comeBack() {
    this.rejoin();
    this.elect();
  }

  // elect queues for the lock; the browser grants it to one tab at a time
  // and frees it when that tab closes, crashes or steps down.
  elect() {
    if (this.pending || this.streams || this.subs.size === 0) return;
    const ctl = new AbortController();
    this.pending = ctl;
    navigator.locks.request("ssehub:" + this.name, { signal: ctl.signal }, () => new Promise((resolve) => {
      this.pending = null;
      this.release = resolve;
      if (this.subs.size === 0) {
        resolve();
        return;
      }
      this.streams = new Map();
      for (const sub of this.subs.values()) sub.setRole("leader");
      this.send({ t: "hello" });
    })).catch(() => {}); // aborted: this tab stopped wanting the lead
  }

  // stepDown hands the lead on (or leaves the queue): a frozen tab cannot
  // run streams, and a tab with no subscriptions has no reason to hold them.
  stepDown() {
    if (this.pending) {
      this.pending.abort();
      this.pending = null;
    }
    if (!this.streams) return;
    for (const s of this.streams.values()) {
      clearTimeout(s.timer);
      s.conn.close();
    }
    this.streams = null;
    for (const sub of this.subs.values()) sub.setRole("follower");
    this.release();
  }

  leaveAll() {
    for (const [m, sub] of this.subs) this.channel.postMessage({ t: "leave", m, stream: sub.stream });
  }

  // join adds a member. The stream opens (after JOIN_DELAY, for the other
  // joins) from the latest last id the members bring, the group's position.
  // A member with a topic the stream lacks makes it reopen on the union: the
  // others miss nothing and drop what comes twice, and the newcomer gets its
  // topics from its join on.
  join({ m, stream, topics, types, last }) {
    let s = this.streams.get(stream);
    if (!s) {
      s = { members: new Map(), from: "", timer: 0, started: false, state: "connecting", error: null };
      s.conn = new Conn(this.base, [], this.opts, {
        event: (type, id, data, topic) => this.send({ t: "ev", stream, type, id, data, topic }),
        reset: (data) => this.send({ t: "reset", stream, data }),
        state: (state, error) => {
          s.state = state;
          s.error = plainError(error);
          this.send({ t: "state", stream, state, error: s.error });
        },
      }, stream === "union");
      this.streams.set(stream, s);
    }
    s.members.set(m, topics);
    for (const t of types) s.conn.listen(t);
    if (!s.started) s.from = laterId(s.from, last);
    if (s.started && covers(s.conn.topics, topics)) {
      this.send({ t: "state", stream, state: s.state, error: s.error });
      return;
    }
    // The reopen resumes from where the stream stood at the first join
    // that needs it, so the newcomer gets what was published since.
    if (s.started && !s.timer) s.from = s.conn.last;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => this.open(s), JOIN_DELAY);
  }

  open(s) {
    s.timer = 0;
    const topics = topicUnion(...s.members.values());
    if (s.started) {
      s.conn.reopen(topics, s.from);
      return;
    }
    s.started = true;
    s.conn.topics = topics;
    s.conn.start(s.from);
  }

  // leave keeps the stream on its topics while anyone reads it: the others
  // filter the extra ones, and the next reopen drops them.
  leave({ m, stream }) {
    const s = this.streams.get(stream);
    if (!s || !s.members.delete(m) || s.members.size > 0) return;
    clearTimeout(s.timer);
    s.conn.close();
    this.streams.delete(stream);
  }
}

function shareable() {
  return typeof BroadcastChannel === "function" && typeof navigator !== "undefined" &&
    Boolean(navigator.locks) && typeof document !== "undefined";
}

/**
 * subscribe opens a subscription to opts.topics on the ssehub at base ("" for
 * this origin). Options: topics, on ({type: handler({type, id, data})}),
 * onReset(info), onState(state, sub), getTicket (async, returns a ticket for
 * each connection), withCredentials, lastEventId (resume after it), retry
 * (ms until the server's is known), shared (default true: one stream for
 * all tabs), group (tabs share only within the same group; use
 * one per credential).
 */
export function subscribe(base, opts = {}) {
  const topics = topicUnion(opts.topics || []);
  const sub = new Subscription(topics, opts);
  if (opts.shared === false || !shareable()) {
    const conn = new Conn(base, topics, opts, {
      event: (type, id, data) => sub.deliver(type, id, data),
      reset: (data) => sub.reset(data),
      state: (state, error) => sub.setState(state, plainError(error)),
    });
    sub.typeAdded = (type) => conn.listen(type);
    sub.detach = () => conn.close();
    for (const t of sub.types()) conn.listen(t);
    conn.start(sub.lastEventId);
    return sub;
  }
  const name = new URL(base || "/", location.href).origin + "|" + (opts.group || "");
  let group = groups.get(name);
  if (!group) {
    group = new Group(name, base, opts);
    groups.set(name, group);
  }
  group.add(sub);
  return sub;
}
