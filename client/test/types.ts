// Checked by `npm run typecheck` (tsc --noEmit), never run: the types in src/index.d.ts
// as an app uses them, with the mistakes they must catch marked @ts-expect-error.

import { PROTOCOL, TopicsClient, TopicsError, type Limits, type Position } from "../src/index.js";

interface Chat {
  user: string;
  text: string;
}

const client = new TopicsClient(["ws://a/topics", "ws://b/topics"], {
  pingInterval: 25_000,
  pongTimeout: 10_000,
  requestTimeout: 5_000,
  maxRetries: 10,
  getToken: async () => "secret",
  tokenParam: "access_token",
});
const byFunction = new TopicsClient(async (attempt: number) => `ws://host/topics?try=${attempt}`);
byFunction.close();

const protocol: "tower-websockets.topics.v1" = PROTOCOL;
const limits: Limits | null = client.limits;
const rate: number | undefined = limits?.publish_rate;

const chat = client.subscribe<Chat>("room", (message, info) => {
  const text: string = message.text;
  const offset: number | undefined = info.offset;
  return [text, offset];
});
const since: Position | null = chat.position;
chat.ready.then((subscribed) => subscribed.replayed + (subscribed.offset ?? 0));

// Without a type argument, data is JSON or bytes, to be narrowed.
client.subscribe("raw", (data) => {
  if (data instanceof Uint8Array) return data.byteLength;
  // @ts-expect-error: JSON could be anything, not only an object
  return data.text;
});

client.on("state", ({ state, previous }) => `${previous} -> ${state}`);
client.on("closed", ({ code, terminal, retries }) => [code, terminal, retries]);
client.on("gap", ({ reason }) => reason === "epoch_changed");
// @ts-expect-error: no such event
client.on("opened", () => {});

client.publish<Chat>("room", { user: "ann", text: "hi" }).then((at) => at.offset);
client.publish("bytes", new Uint8Array([1, 2]));
// @ts-expect-error: a function is not JSON
client.publish("room", () => 1);

try {
  throw new TopicsError("timeout", "no reply");
} catch (error) {
  if (error instanceof TopicsError) error.code.toUpperCase();
}

// @ts-expect-error: options are checked
new TopicsClient("ws://a/topics", { pingInterval: "often" });

export { protocol, rate, since };

// Calls: the result typed as the app knows it, params JSON or bytes, a timeout and a signal.
interface Room {
  room: string;
  members: number;
}
client.call<Room>("room.join", { room: "lobby" }).then((room) => room.members + 1);
client.call("upload", new Uint8Array([1, 2]), { timeout: 1_000, signal: new AbortController().signal });
client.call("now").then((result) => result);
// @ts-expect-error: a function is not JSON
client.call("room.join", () => 1);
// @ts-expect-error: the result is a Room, which has no `text`
client.call<Room>("room.join", {}).then((room) => room.text);
const connection: string | null = client.connection;
const user: string | null = client.user;
export { connection, user };

// The server's calls: a handler's params typed as the app knows them, its result JSON or bytes.
const stop: () => void = client.handle<string>("confirm", (question) => question.length > 0);
client.handle("thumbnail", async () => new Uint8Array([1]));
// @ts-expect-error: a function is not a result
client.handle("bad", () => () => 1);
client.on("message", ({ data }) => data);
stop();
