// The client's own logic against a fake WebSocket, on Node's fake timers: the backoff
// and its reset, the URLs in turn, the connect timeout, resubscribing from the last
// position, and what it does with repeats, jumps and a new epoch.

import { test } from "node:test";
import assert from "node:assert/strict";

import { PROTOCOL, TopicsClient, TopicsError } from "../src/index.js";

/** A WebSocket the test drives: it records what the client sends. */
class FakeSocket {
  static made = [];

  constructor(url, protocol) {
    this.url = url;
    this.protocol = protocol;
    this.readyState = 0;
    this.sent = [];
    this.closed = null;
    FakeSocket.made.push(this);
  }

  send(data) {
    this.sent.push(typeof data === "string" ? JSON.parse(data) : data);
  }

  close(code) {
    this.closed = code ?? 1005;
  }

  open() {
    this.readyState = 1;
    this.onopen?.({});
  }

  receive(message) {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }

  /** The last request of `type` it was sent. */
  last(type) {
    return this.sent.filter((m) => m.type === type).at(-1);
  }
}

function client(t, options = {}, urls = "ws://a/topics") {
  FakeSocket.made = [];
  t.mock.timers.reset();
  t.mock.timers.enable({ apis: ["setTimeout"] });
  return new TopicsClient(urls, {
    WebSocket: FakeSocket,
    initialDelay: 100,
    maxDelay: 1000,
    factor: 2,
    jitter: 0,
    stableAfter: 5000,
    connectTimeout: 3000,
    ...options,
  });
}

const latest = () => FakeSocket.made.at(-1);

test("the wait grows by the factor up to the bound, and starts over after a stable connection", (t) => {
  const c = client(t);
  const delays = [];
  c.on("disconnected", ({ delay }) => delays.push(delay));
  c.connect();
  assert.equal(latest().protocol, PROTOCOL);
  for (let i = 0; i < 6; i++) {
    latest().drop();
    const made = FakeSocket.made.length;
    t.mock.timers.tick(delays.at(-1) - 1);
    assert.equal(FakeSocket.made.length, made, "not before the delay");
    t.mock.timers.tick(1);
    assert.equal(FakeSocket.made.length, made + 1, "a new attempt at the delay");
  }
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000]);

  // Open, but not for long enough: the wait goes on growing.
  latest().open();
  t.mock.timers.tick(4999);
  latest().drop();
  assert.equal(delays.at(-1), 1000);
  t.mock.timers.tick(1000);
  // Open for the stable time: the next wait is the first one again.
  latest().open();
  t.mock.timers.tick(5000);
  latest().drop();
  assert.equal(delays.at(-1), 100);
  c.close();
});

test("jitter takes a random share off the wait", (t) => {
  for (const [random, expected] of [
    [0, 50],
    [0.5, 75],
    [0.999, 100],
  ]) {
    const c = client(t, { jitter: 0.5, random: () => random });
    let delay;
    c.on("disconnected", (d) => (delay = d.delay));
    c.connect();
    latest().drop();
    assert.equal(delay, expected, `random ${random}`);
    c.close();
  }
});

test("each attempt takes the next URL, and an attempt that does not open in time is given up", (t) => {
  const c = client(t, {}, ["ws://a/t", "ws://b/t", "ws://c/t"]);
  const reasons = [];
  c.on("disconnected", ({ reason, wasOpen }) => reasons.push([reason, wasOpen]));
  c.connect();
  latest().drop();
  t.mock.timers.tick(100);
  latest().drop();
  t.mock.timers.tick(200);
  // The third never opens.
  t.mock.timers.tick(3000);
  assert.equal(latest().closed !== null, true, "the stuck attempt was closed");
  t.mock.timers.tick(800);
  assert.deepEqual(
    FakeSocket.made.map((s) => s.url),
    ["ws://a/t", "ws://b/t", "ws://c/t", "ws://a/t"],
  );
  assert.deepEqual(reasons.at(-1), ["connect timeout", false]);
  latest().open();
  assert.equal(c.state, "open");
  assert.equal(c.url, "ws://a/t");
  c.close();
});

test("after a reconnect it subscribes again from the last position, and says what it recovered", (t) => {
  const c = client(t);
  const got = [];
  const recovered = [];
  c.on("recovered", (r) => recovered.push(r));
  const sub = c.subscribe("room", (data, info) => got.push([info.offset, data]));
  c.connect();
  latest().open();
  const first = latest().last("subscribe");
  assert.deepEqual({ ...first, id: 0 }, { type: "subscribe", topic: "room", id: 0 });
  latest().receive({ type: "subscribed", id: first.id, topic: "room", epoch: "e", offset: 0 });
  for (const offset of [1, 2]) {
    latest().receive({ type: "publication", topic: "room", epoch: "e", offset, data: offset });
  }
  assert.deepEqual(sub.position, { epoch: "e", offset: 2 });
  latest().drop();
  t.mock.timers.tick(100);
  latest().open();
  const again = latest().last("subscribe");
  assert.deepEqual(again.since, { epoch: "e", offset: 2 });
  latest().receive({
    type: "subscribed",
    id: again.id,
    topic: "room",
    epoch: "e",
    offset: 4,
    recovered: true,
    replayed: 2,
  });
  assert.deepEqual(recovered, [], "not before the replay is through");
  for (const offset of [3, 4]) {
    latest().receive({ type: "publication", topic: "room", epoch: "e", offset, data: offset });
  }
  assert.deepEqual(recovered, [{ topic: "room", replayed: 2 }]);
  assert.deepEqual(got, [
    [1, 1],
    [2, 2],
    [3, 3],
    [4, 4],
  ]);
  c.close();
});

test("a repeat is dropped, a jump asks again from the last position, a new epoch is a gap", (t) => {
  const c = client(t);
  const got = [];
  const gaps = [];
  c.on("gap", (g) => gaps.push(g));
  c.subscribe("t", (data, info) => got.push(`${info.epoch}:${info.offset}`));
  c.connect();
  const socket = latest();
  socket.open();
  socket.receive({
    type: "subscribed",
    id: socket.last("subscribe").id,
    topic: "t",
    epoch: "e",
    offset: 0,
  });
  const publish = (epoch, offset) =>
    socket.receive({ type: "publication", topic: "t", epoch, offset, data: 0 });
  publish("e", 1);
  publish("e", 1);
  publish("e", 2);
  assert.deepEqual(got, ["e:1", "e:2"]);
  // Offset 3 was skipped for this client.
  publish("e", 4);
  assert.deepEqual(got, ["e:1", "e:2"]);
  assert.equal(socket.last("unsubscribe").topic, "t");
  const resync = socket.last("subscribe");
  assert.deepEqual(resync.since, { epoch: "e", offset: 2 });
  assert.ok(socket.sent.indexOf(resync) > socket.sent.indexOf(socket.last("unsubscribe")));
  publish("e", 5); // before the reply: ignored, the replay brings it
  socket.receive({ type: "unsubscribed", id: socket.last("unsubscribe").id, topic: "t" });
  socket.receive({
    type: "subscribed",
    id: resync.id,
    topic: "t",
    epoch: "e",
    offset: 5,
    recovered: true,
    replayed: 3,
  });
  for (const offset of [3, 4, 5]) publish("e", offset);
  assert.deepEqual(got, ["e:1", "e:2", "e:3", "e:4", "e:5"]);
  // The stream started over.
  publish("f", 1);
  assert.deepEqual(got.at(-1), "f:1");
  assert.deepEqual(gaps, [{ topic: "t", reason: "epoch_changed", replayed: 0 }]);
  c.close();
});

test("publishes fail plainly when the connection is down, and close() is for good", async (t) => {
  const c = client(t);
  await assert.rejects(
    c.publish("t", 1),
    (e) => e instanceof TopicsError && e.code === "disconnected",
  );
  c.connect();
  latest().open();
  const pending = c.publish("t", { a: 1 });
  const sent = latest().last("publish");
  assert.deepEqual(sent.data, { a: 1 });
  latest().drop();
  await assert.rejects(pending, (e) => e.code === "disconnected");
  t.mock.timers.tick(100);
  latest().open();
  const refused = c.publish("", 1);
  latest().receive({
    type: "error",
    id: latest().last("publish").id,
    code: "invalid_topic",
    message: "no",
  });
  await assert.rejects(refused, (e) => e.code === "invalid_topic");
  const made = FakeSocket.made.length;
  let closed = 0;
  c.on("closed", () => closed++);
  c.close();
  assert.equal(latest().closed, 1000);
  t.mock.timers.tick(60_000);
  assert.equal(FakeSocket.made.length, made, "no attempt after close()");
  assert.equal(c.state, "closed");
  assert.equal(closed, 1);
});

test("bytes go in a binary message after a length-prefixed header", (t) => {
  const c = client(t);
  c.connect();
  latest().open();
  c.publish("t", new Uint8Array([7, 8, 9])).catch(() => {});
  const frame = latest().sent.at(-1);
  assert.ok(frame instanceof Uint8Array);
  const length = new DataView(frame.buffer).getUint32(0);
  const header = JSON.parse(new TextDecoder().decode(frame.subarray(4, 4 + length)));
  assert.deepEqual({ ...header, id: 0 }, { type: "publish", id: 0, topic: "t" });
  assert.deepEqual([...frame.subarray(4 + length)], [7, 8, 9]);
  c.close();
});

test("a server that goes silent is asked with a ping, and taken as dead when it does not answer", (t) => {
  const c = client(t, { pingInterval: 1000, pongTimeout: 500 });
  const lost = [];
  c.on("disconnected", (d) => lost.push(d.reason));
  c.connect();
  const socket = latest();
  socket.open();
  socket.receive({ type: "welcome", version: 1, limits: { publish_rate: 5 } });
  assert.deepEqual(c.limits, { publish_rate: 5 });
  // Anything the server sends counts as life: no ping while it talks.
  t.mock.timers.tick(900);
  socket.receive({ type: "pong", id: 999 });
  t.mock.timers.tick(900);
  assert.equal(socket.last("ping"), undefined);
  // Silent for the interval: a ping; answered in time: the connection stays.
  t.mock.timers.tick(100);
  const ping = socket.last("ping");
  assert.equal(typeof ping.id, "number");
  t.mock.timers.tick(400);
  socket.receive({ type: "pong", id: ping.id });
  t.mock.timers.tick(499);
  assert.equal(c.state, "open");
  // Silent again, and no answer: given up (no close event needed) and replaced.
  t.mock.timers.tick(501);
  assert.equal(socket.sent.filter((m) => m.type === "ping").length, 2);
  t.mock.timers.tick(499);
  assert.equal(c.state, "open");
  t.mock.timers.tick(1);
  assert.equal(socket.closed, 4000);
  assert.deepEqual(lost, ["the server did not answer a ping"]);
  assert.equal(c.state, "disconnected");
  assert.equal(c.limits, null);
  t.mock.timers.tick(100);
  assert.notEqual(latest(), socket, "a new attempt");
  c.close();
});

test("a request that gets no reply times out", async (t) => {
  const c = client(t, { requestTimeout: 2000, pingInterval: 60_000 });
  const errors = [];
  c.on("error", (e) => errors.push(e.code));
  c.connect();
  const socket = latest();
  socket.open();
  const published = c.publish("t", 1);
  t.mock.timers.tick(1999);
  const late = c.publish("t", 2);
  t.mock.timers.tick(1);
  await assert.rejects(published, (e) => e instanceof TopicsError && e.code === "timeout");
  // A reply after the timeout is ignored; the later request is answered.
  socket.receive({ type: "published", id: socket.sent[0].id, topic: "t" });
  socket.receive({ type: "published", id: socket.last("publish").id, topic: "t", epoch: "e", offset: 2 });
  assert.deepEqual(await late, { epoch: "e", offset: 2 });
  // An unanswered subscribe: the connection is replaced and the subscribe asked again.
  c.subscribe("room", () => {});
  t.mock.timers.tick(2000);
  assert.deepEqual(errors, ["timeout"]);
  assert.equal(socket.closed, 4000);
  t.mock.timers.tick(100);
  latest().open();
  assert.equal(latest().last("subscribe").topic, "room");
  c.close();
});

/** Lets the promises that are due run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

test("the URL and a token are asked for before each attempt", async (t) => {
  let tokens = 0;
  const asked = [];
  const c = client(t, { getToken: async () => `t${++tokens}` }, async (attempt) => {
    asked.push(attempt);
    return attempt === 0 ? "ws://a/topics?room=1" : "ws://b/topics";
  });
  c.connect();
  await settle();
  assert.equal(latest().url, "ws://a/topics?room=1&token=t1");
  latest().drop();
  t.mock.timers.tick(100);
  await settle();
  assert.equal(latest().url, "ws://b/topics?token=t2");
  assert.deepEqual(asked, [0, 1]);
  // A token that cannot be had fails the attempt like a refused connection.
  const failing = client(t, {
    getToken: () => Promise.reject(new Error("signed out")),
  });
  const reasons = [];
  failing.on("disconnected", (d) => reasons.push(d.reason));
  failing.connect();
  await settle();
  assert.deepEqual(reasons, ["no URL or token: signed out"]);
  assert.equal(FakeSocket.made.length, 0);
  failing.close();
  c.close();
});

test("a terminal close and too many failed attempts end the client for good", (t) => {
  const c = client(t);
  const closed = [];
  c.on("closed", (d) => closed.push(d));
  c.connect();
  latest().open();
  latest().drop(4001);
  assert.equal(c.state, "closed");
  assert.deepEqual(closed, [{ code: 4001, reason: "", terminal: true }]);
  t.mock.timers.tick(60_000);
  assert.equal(FakeSocket.made.length, 1, "no attempt after a terminal close");

  // 4500 and up: reconnect, as after 1001.
  const again = client(t);
  again.connect();
  latest().open();
  latest().drop(4500);
  assert.equal(again.state, "disconnected");
  again.close();

  const limited = client(t, { maxRetries: 2 });
  const ends = [];
  limited.on("closed", (d) => ends.push(d));
  limited.connect();
  latest().drop(); // the first attempt
  t.mock.timers.tick(100);
  latest().drop(); // retry 1
  t.mock.timers.tick(200);
  assert.equal(limited.state, "connecting");
  latest().drop(); // retry 2: no more
  assert.equal(limited.state, "closed");
  assert.deepEqual(ends, [{ code: 1006, reason: "", retries: 2 }]);
  assert.equal(FakeSocket.made.length, 3);
});

test("every change of state is an event", (t) => {
  const c = client(t);
  const states = [];
  c.on("state", ({ state, previous }) => states.push(`${previous}>${state}`));
  c.connect();
  latest().open();
  latest().drop();
  t.mock.timers.tick(100);
  c.close();
  assert.deepEqual(states, [
    "idle>connecting",
    "connecting>open",
    "open>disconnected",
    "disconnected>connecting",
    "connecting>closed",
  ]);
});

test("when the network comes back, a waiting client tries at once", (t) => {
  const listeners = new Map();
  const saved = [globalThis.addEventListener, globalThis.removeEventListener];
  globalThis.addEventListener = (type, listener) => listeners.set(type, listener);
  globalThis.removeEventListener = (type) => listeners.delete(type);
  t.after(() => {
    [globalThis.addEventListener, globalThis.removeEventListener] = saved;
  });
  const c = client(t, { initialDelay: 30_000, maxDelay: 30_000 });
  c.connect();
  latest().open();
  latest().drop();
  assert.equal(c.state, "disconnected");
  const made = FakeSocket.made.length;
  listeners.get("online")();
  assert.equal(FakeSocket.made.length, made + 1, "at once, not after 30 s");
  assert.equal(c.state, "connecting");
  // Online while connected changes nothing.
  listeners.get("online")();
  assert.equal(FakeSocket.made.length, made + 1);
  c.close();
  assert.equal(listeners.has("online"), false, "the listener goes with the client");
});

test("a recovery cut short is not reported as recovered later", (t) => {
  const c = client(t);
  const events = [];
  c.on("recovered", (r) => events.push(["recovered", r.replayed]));
  c.on("gap", (g) => events.push(["gap", g.reason]));
  c.subscribe("room", () => {});
  c.connect();
  latest().open();
  const first = latest().last("subscribe");
  latest().receive({ type: "subscribed", id: first.id, topic: "room", epoch: "e", offset: 0 });
  latest().receive({ type: "publication", topic: "room", epoch: "e", offset: 1, data: 1 });
  latest().drop();
  t.mock.timers.tick(100);
  // Back: three to replay, but the connection drops after the first.
  latest().open();
  let ask = latest().last("subscribe");
  latest().receive({
    type: "subscribed",
    id: ask.id,
    topic: "room",
    epoch: "e",
    offset: 4,
    recovered: true,
    replayed: 3,
  });
  latest().receive({ type: "publication", topic: "room", epoch: "e", offset: 2, data: 2 });
  latest().drop();
  t.mock.timers.tick(200);
  // Back again, and this time the history no longer has what it missed.
  latest().open();
  ask = latest().last("subscribe");
  assert.deepEqual(ask.since, { epoch: "e", offset: 2 });
  latest().receive({
    type: "subscribed",
    id: ask.id,
    topic: "room",
    epoch: "e",
    offset: 9,
    recovered: false,
    replayed: 0,
  });
  for (const offset of [10, 11, 12]) {
    latest().receive({ type: "publication", topic: "room", epoch: "e", offset, data: offset });
  }
  assert.deepEqual(events, [["gap", "not_recovered"]]);
  c.close();
});
