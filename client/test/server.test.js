// The client against the real Rust server (examples/topics.rs, started by the tests):
// publishing and receiving JSON and bytes, recovery after the network drops, a gap larger
// than the history, moving to another server when one dies, and calls of the server's
// methods.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";

import { TopicsClient, TopicsError } from "../src/index.js";
import { next, startProxy, startServer, within } from "./support.js";

/** Quick to reconnect, so that the tests do not wait on the backoff. */
const QUICK = { initialDelay: 20, maxDelay: 200, stableAfter: 60_000 };

function connected(client) {
  client.connect();
  return client.state === "open" ? Promise.resolve() : next(client, "connected");
}

/** Every publication of `topic` that `client` gets, in order, as [offset, data]. */
function collect(client, topic, log = []) {
  const subscription = client.subscribe(topic, (data, info) => log.push([info.offset, data]));
  return { log, subscription };
}

/** Resolves once `condition()` holds, checking after each event loop turn. */
function until(condition, what) {
  return within(
    new Promise((resolve) => {
      const check = () => (condition() ? resolve() : setImmediate(check));
      check();
    }),
    what,
  );
}

const numbers = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

test("JSON and bytes go through, each publication with its position", async () => {
  const server = await startServer();
  const reader = new TopicsClient(server.url, QUICK);
  const writer = new TopicsClient(server.url, QUICK);
  try {
    const { log, subscription } = collect(reader, "room");
    await connected(reader);
    const ready = await within(subscription.ready, "subscribed");
    assert.equal(ready.offset, 0);
    await connected(writer);
    const first = await writer.publish("room", { text: "héllo", n: [1, 2.5, null] });
    assert.deepEqual(first, { epoch: ready.epoch, offset: 1 });
    const second = await writer.publish("room", new Uint8Array([0, 255, 7]));
    assert.equal(second.offset, 2);
    await until(() => log.length === 2, "two publications");
    assert.deepEqual(log[0], [1, { text: "héllo", n: [1, 2.5, null] }]);
    assert.deepEqual(log[1], [2, new Uint8Array([0, 255, 7])]);
    await assert.rejects(writer.publish("", 1), { code: "invalid_topic" });
  } finally {
    reader.close();
    writer.close();
    await server.stop();
  }
});

/** A reader behind a proxy, subscribed to "room", that has received 1 to 5. */
async function readerThatHasFive(server) {
  const proxy = await startProxy(server.port);
  const reader = new TopicsClient(proxy.url, QUICK);
  const writer = new TopicsClient(server.url, QUICK);
  const log = [];
  const events = [];
  reader.on("gap", (gap) => log.push(["gap", gap.reason, gap.replayed]));
  reader.on("recovered", (r) => events.push(r));
  const { subscription } = collect(reader, "room", log);
  await connected(reader);
  await within(subscription.ready, "subscribed");
  await connected(writer);
  for (const i of numbers(1, 5)) await writer.publish("room", i);
  await until(() => log.length === 5, "the first five");
  // The network goes down, and stays down while the writer goes on.
  proxy.refuse(true);
  const dropped = next(reader, "disconnected");
  proxy.cut();
  await dropped;
  return { proxy, reader, writer, log, events };
}

test("after the network drops, every missed publication arrives once and in order", async () => {
  const server = await startServer();
  const { proxy, reader, writer, log, events } = await readerThatHasFive(server);
  try {
    for (const i of numbers(6, 55)) await writer.publish("room", i);
    const recovered = next(reader, "recovered");
    proxy.refuse(false);
    assert.deepEqual(await recovered, { topic: "room", replayed: 50 });
    await writer.publish("room", 56);
    await until(() => log.length === 56, "all 56");
    assert.deepEqual(
      log,
      numbers(1, 56).map((i) => [i, i]),
    );
    assert.equal(events.length, 1);
    const stats = await server.stats();
    assert.equal(stats.recovered, 1);
    assert.equal(stats.not_recovered, 0);
  } finally {
    reader.close();
    writer.close();
    await proxy.close();
    await server.stop();
  }
});

test("a gap larger than the history is reported before the publications still kept", async () => {
  const server = await startServer({ HISTORY: "10" });
  const { proxy, reader, writer, log } = await readerThatHasFive(server);
  try {
    for (const i of numbers(6, 35)) await writer.publish("room", i);
    proxy.refuse(false);
    await until(() => log.length === 5 + 1 + 10, "the gap and the ten kept");
    assert.deepEqual(log, [
      ...numbers(1, 5).map((i) => [i, i]),
      ["gap", "not_recovered", 10],
      ...numbers(26, 35).map((i) => [i, i]),
    ]);
  } finally {
    reader.close();
    writer.close();
    await proxy.close();
    await server.stop();
  }
});

test("given several URLs, it passes a dead one and moves on when its server dies", async () => {
  // A port nobody listens on.
  const dead = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(`ws://127.0.0.1:${port}/topics`));
    });
  });
  const one = await startServer();
  const two = await startServer();
  const client = new TopicsClient([dead, one.url, two.url], QUICK);
  const writer = new TopicsClient(two.url, QUICK);
  try {
    const gaps = [];
    client.on("gap", (gap) => gaps.push(gap));
    const { log, subscription } = collect(client, "room");
    client.connect();
    assert.deepEqual(await next(client, "connected"), { url: one.url });
    await within(subscription.ready, "subscribed on the first server");
    // The first server dies: the client goes to the second, whose stream of "room" is
    // another one, and says that it could not recover.
    const moved = next(client, "connected");
    await one.stop();
    assert.deepEqual(await moved, { url: two.url });
    await until(() => gaps.length === 1, "the gap");
    assert.equal(gaps[0].reason, "not_recovered");
    await connected(writer);
    await writer.publish("room", "on two");
    await until(() => log.length === 1, "a publication on the second server");
    assert.equal(log[0][1], "on two");
  } finally {
    client.close();
    writer.close();
    await one.stop();
    await two.stop();
  }
});

test("a connection that stops answering without closing is found dead and replaced", async () => {
  const server = await startServer();
  const proxy = await startProxy(server.port);
  const client = new TopicsClient(proxy.url, {
    ...QUICK,
    pingInterval: 300,
    pongTimeout: 300,
    requestTimeout: 5_000,
  });
  try {
    await connected(client);
    await until(() => client.limits !== null, "the welcome");
    assert.equal(client.limits.publish_rate, 100000, "the server's own limits");
    assert.equal(typeof client.limits.message_size, "number");
    // The network goes silent: no close, no error, nothing.
    proxy.stall(true);
    const pending = client.publish("room", 1);
    const lost = await next(client, "disconnected");
    assert.equal(lost.reason, "the server did not answer a ping");
    assert.equal(lost.wasOpen, true);
    await assert.rejects(pending, { code: "disconnected" });
    // Once the network is back, the client is connected again.
    proxy.cut();
    proxy.stall(false);
    await next(client, "connected");
    assert.deepEqual(Object.keys(await client.publish("room", 2)).sort(), ["epoch", "offset"]);
  } finally {
    client.close();
    await proxy.close();
    await server.stop();
  }
});

test("calls: results and errors with their codes, bytes, and calls that run at once", async () => {
  const server = await startServer();
  const client = new TopicsClient(`${server.url}?user=ada`, QUICK);
  try {
    await connected(client);
    await until(() => client.connection !== null, "the welcome");
    assert.equal(client.user, "ada");
    const me = await client.call("whoami");
    assert.deepEqual(me, { connection: client.connection, user: "ada" });
    assert.deepEqual(await client.call("echo", { a: [1, 2.5, null] }), { a: [1, 2.5, null] });
    assert.equal(await client.call("echo"), null);
    assert.deepEqual(await client.call("echo.bytes", new Uint8Array([0, 255, 7])), new Uint8Array([0, 255, 7]));
    await assert.rejects(client.call("fail", "not_found"), { code: "not_found" });
    await assert.rejects(client.call("no.such.method"), { code: "unknown_method" });
    await assert.rejects(client.call("sleep", "soon"), { code: "bad_params" });
    // A slow call does not hold up a fast one made after it.
    const controller = new AbortController();
    let slowEnded = false;
    const slow = client
      .call("sleep", 60_000, { timeout: 120_000, signal: controller.signal })
      .finally(() => (slowEnded = true));
    assert.equal(await client.call("echo", 1), 1);
    assert.equal(slowEnded, false);
    controller.abort();
    await assert.rejects(slow, { code: "aborted" });
  } finally {
    client.close();
    await server.stop();
  }
});

test("a call times out, or is aborted, and is cancelled on the server; none outlives its connection", async () => {
  const server = await startServer();
  const proxy = await startProxy(server.port);
  const client = new TopicsClient(proxy.url, { ...QUICK, callTimeout: 200 });
  try {
    await connected(client);
    await assert.rejects(client.call("sleep", 60_000), { code: "timeout" });
    const controller = new AbortController();
    const aborted = client.call("sleep", 60_000, { timeout: 60_000, signal: controller.signal });
    controller.abort();
    await assert.rejects(aborted, { code: "aborted" });
    await assert.rejects(
      client.call("echo", 1, { signal: AbortSignal.abort() }),
      { code: "aborted" },
    );
    // Both were cancelled on the server: all 16 calls a connection may run at once are free.
    const many = Array.from({ length: 16 }, () => client.call("sleep", 50, { timeout: 60_000 }));
    assert.deepEqual(await Promise.all(many), Array(16).fill(50));
    // A call in flight when the connection drops rejects at once, and is not sent again.
    const inFlight = client.call("sleep", 60_000, { timeout: 60_000 });
    proxy.cut();
    await assert.rejects(inFlight, { code: "disconnected" });
    await next(client, "connected");
    await assert.rejects(client.call("sleep", 60_000, { timeout: 100 }), { code: "timeout" });
  } finally {
    client.close();
    await proxy.close();
    await server.stop();
  }
});

test("the server calls the client's handlers, and sends it messages", async () => {
  const server = await startServer();
  const client = new TopicsClient(server.url, QUICK);
  try {
    client.handle("confirm", (question) => question === "sure?");
    client.handle("double", async (n) => n * 2);
    client.handle("bytes", () => new Uint8Array([9]));
    client.handle("refuse", () => {
      throw new TopicsError("not_now", "ask me later");
    });
    client.handle("crash", () => {
      throw new Error("a detail the server must not see");
    });
    const removed = client.handle("removed", () => 1);
    removed();
    await connected(client);
    assert.equal(await client.call("ask", { method: "confirm", params: "sure?" }), true);
    assert.equal(await client.call("ask", { method: "double", params: 21 }), 42);
    // `ask` wants JSON: the bytes are a bad result for it.
    await assert.rejects(client.call("ask", { method: "bytes" }), { code: "bad_result" });
    await assert.rejects(client.call("ask", { method: "refuse" }), { code: "not_now", message: "ask me later" });
    const crashed = client.call("ask", { method: "crash" });
    await assert.rejects(crashed, (error) => error.code === "internal" && !error.message.includes("detail"));
    await assert.rejects(client.call("ask", { method: "removed" }), { code: "unknown_method" });
    const message = next(client, "message");
    assert.equal(await client.call("notify", { hi: [1] }), null);
    assert.deepEqual((await message).data, { hi: [1] });
  } finally {
    client.close();
    await server.stop();
  }
});
