// Unit tests of ssehub.js's pure logic: node --test static/
import test from "node:test";
import assert from "node:assert/strict";

import {
  backoff, compareIds, covers, isNew, laterId, parseRetry, parseRetryAfter, refusal, splitTopic, streamURL,
  topicUnion,
} from "./ssehub.js";

test("ids compare numerically part by part, not as strings", () => {
  assert.equal(compareIds("9-1", "10-1"), -1);
  assert.equal(compareIds("1795432697668-10", "1795432697668-9"), 1);
  assert.equal(compareIds("1795432697668-2", "1795432697668-2"), 0);
  assert.equal(compareIds("1795432000000-99", "1795432697668-1"), -1, "a later process start wins");
  assert.equal(compareIds("007-1", "7-1"), 0, "leading zeros do not count");
  assert.equal(compareIds("18446744073709551616-1", "18446744073709551615-1"), 1, "beyond 2^53");
});

test("ids that are not <ms>-<n> do not compare", () => {
  for (const [a, b] of [["no-such-id", "1-1"], ["1-1", ""], ["1", "1-1"], ["1-1-1", "1-1"]]) {
    assert.ok(Number.isNaN(compareIds(a, b)), a + " vs " + b);
  }
});

test("an event is new unless its id is at or below the last one seen", () => {
  assert.equal(isNew("5-3", "5-2"), true);
  assert.equal(isNew("5-2", "5-2"), false, "the same event is a repeat");
  assert.equal(isNew("5-1", "5-2"), false);
  assert.equal(isNew("5-1", ""), true, "nothing seen yet");
  assert.equal(isNew("5-1", "no-such-id"), true, "an unplaceable last id drops nothing");
});

test("backoff starts at the server's retry, doubles, caps, and jitters up to 50%", () => {
  assert.equal(backoff(0, 3000, () => 0), 3000);
  assert.equal(backoff(0, 3000, () => 0.999), 4499);
  assert.equal(backoff(1, 3000, () => 0), 6000);
  assert.equal(backoff(2, 3000, () => 0), 12000);
  assert.equal(backoff(10, 3000, () => 0), 30000, "capped");
  assert.equal(backoff(1000, 3000, () => 0.5), 37500, "no overflow");
});

test("retry: is read from the stream's first bytes", () => {
  assert.equal(parseRetry("retry: 3142\n: ok\n\n"), 3142);
  assert.equal(parseRetry("retry:250\n"), 250);
  assert.equal(parseRetry(": ok\n\n"), null);
  assert.equal(parseRetry("data: retry: 5\n"), null, "only a retry field counts");
});

test("Retry-After is seconds or an HTTP date", () => {
  assert.equal(parseRetryAfter("2"), 2000);
  assert.equal(parseRetryAfter(""), null);
  assert.equal(parseRetryAfter(null), null);
  assert.equal(parseRetryAfter("soon"), null);
  const now = Date.parse("Tue, 01 Dec 2026 09:00:00 GMT");
  assert.equal(parseRetryAfter("Tue, 01 Dec 2026 09:00:05 GMT", now), 5000);
  assert.equal(parseRetryAfter("Tue, 01 Dec 2026 08:00:00 GMT", now), 0);
});

test("a refusal is fatal, later or a blip", () => {
  assert.equal(refusal(401, null), "fatal");
  assert.equal(refusal(403, null), "fatal");
  assert.equal(refusal(400, null), "fatal");
  assert.equal(refusal(503, 2000), "later");
  assert.equal(refusal(429, 1000), "later");
  assert.equal(refusal(429, null), "blip");
  assert.equal(refusal(503, null), "blip");
  assert.equal(refusal(502, null), "blip");
  assert.equal(refusal(408, null), "blip");
});

test("every new stream carries the last id and a fresh ticket in its query", () => {
  assert.equal(streamURL("", ["news", "orders/1"], { ticket: "t1", lastEventId: "17-3" }),
    "/sse?topic=news&topic=orders%2F1&ticket=t1&lastEventId=17-3");
  assert.equal(streamURL("https://hub.example.com", []), "https://hub.example.com/sse");
  assert.equal(streamURL("", ["tick"], { lastEventId: "" }), "/sse?topic=tick");
  assert.equal(streamURL("", ["a", "b"], { withTopic: true, lastEventId: "1-1" }),
    "/sse?topic=a&topic=b&withTopic=1&lastEventId=1-1");
});

test("the later id wins; an empty or unplaceable one loses", () => {
  assert.equal(laterId("9-1", "10-1"), "10-1");
  assert.equal(laterId("10-1", "9-1"), "10-1");
  assert.equal(laterId("", "5-1"), "5-1");
  assert.equal(laterId("5-1", ""), "5-1");
  assert.equal(laterId("no-such-id", "5-1"), "5-1");
  assert.equal(laterId("no-such-id", ""), "no-such-id", "kept when there is nothing better");
  assert.equal(laterId("", ""), "");
});

test("the union of the tabs' topics has each topic once, sorted", () => {
  assert.deepEqual(topicUnion(["news", "tick"], ["orders/eu", "news"], [" ", "tick"]), ["news", "orders/eu", "tick"]);
  assert.deepEqual(topicUnion(), []);
});

test("a stream covers a tab when it carries every topic the tab wants", () => {
  assert.equal(covers(["a", "b"], ["b"]), true);
  assert.equal(covers(["a", "b"], ["b", "c"]), false, "c needs a reopen on the union");
  assert.equal(covers([], []), true);
});

test("a withTopic event's data is its topic, a line break, then the data as published", () => {
  assert.deepEqual(splitTopic("news\n{\"a\":1}"), ["news", '{"a":1}']);
  assert.deepEqual(splitTopic("orders/eu\ntwo\nlines"), ["orders/eu", "two\nlines"]);
  assert.deepEqual(splitTopic("news\n"), ["news", ""], "empty data");
  assert.deepEqual(splitTopic("untagged"), ["", "untagged"]);
});

// FakeEventSource stands in for the browser's: the test opens, feeds and
// fails it by hand.
class FakeEventSource {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSED = 2;
  static made = [];
  constructor(url) {
    this.url = url;
    this.readyState = FakeEventSource.CONNECTING;
    this.listeners = {};
    FakeEventSource.made.push(this);
  }
  addEventListener(type, fn) { (this.listeners[type] ||= []).push(fn); }
  close() { this.readyState = FakeEventSource.CLOSED; }
  open() { this.readyState = FakeEventSource.OPEN; this.onopen(); }
  emit(type, id, data) { for (const fn of this.listeners[type] || []) fn({ lastEventId: id, data }); }
  drop() { this.readyState = FakeEventSource.CONNECTING; this.onerror(); }
}

async function until(cond) {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), "condition not reached");
}

test("a ticket client buys a ticket per connection and resumes after its last id", async () => {
  globalThis.EventSource = FakeEventSource;
  FakeEventSource.made = [];
  const { subscribe } = await import("./ssehub.js");
  let n = 0;
  const got = [];
  const sub = subscribe("", {
    topics: ["news"], retry: 1, lastEventId: "5-1",
    getTicket: async () => "t" + ++n,
    on: { update: (e) => got.push(e.id) },
  });
  await until(() => FakeEventSource.made.length === 1);
  const first = FakeEventSource.made[0];
  assert.equal(first.url, "/sse?topic=news&ticket=t1&lastEventId=5-1");
  first.open();
  first.emit("update", "5-2", "a");
  first.emit("update", "5-3", "b");
  first.drop();
  assert.equal(sub.state, "reconnecting");
  assert.equal(first.readyState, FakeEventSource.CLOSED, "a spent ticket is not retried by the browser");

  await until(() => FakeEventSource.made.length === 2);
  const second = FakeEventSource.made[1];
  assert.equal(second.url, "/sse?topic=news&ticket=t2&lastEventId=5-3");
  second.open();
  second.emit("update", "5-3", "b");
  second.emit("update", "5-4", "c");
  assert.deepEqual(got, ["5-2", "5-3", "5-4"], "a repeat at the seam is dropped");
  assert.equal(sub.reconnects, 1);
  assert.equal(sub.lastEventId, "5-4");
  sub.close();
  assert.equal(sub.state, "closed");
});

test("after a reset the next event is taken whatever its id", async () => {
  globalThis.EventSource = FakeEventSource;
  FakeEventSource.made = [];
  const { subscribe } = await import("./ssehub.js");
  const got = [], resets = [];
  const sub = subscribe("", {
    topics: ["news"], lastEventId: "9999999999999-0",
    on: { update: (e) => got.push(e.id) }, onReset: (info) => resets.push(info.reason),
  });
  const es = FakeEventSource.made[0];
  es.open();
  es.emit("reset", "9999999999999-0", '{"reason":"unknown-id","lastEventId":"9999999999999-0"}');
  es.emit("update", "17-1", "x");
  es.emit("update", "17-1", "x");
  es.emit("update", "17-2", "y");
  assert.deepEqual(resets, ["unknown-id"]);
  assert.deepEqual(got, ["17-1", "17-2"]);
  sub.close();
});
