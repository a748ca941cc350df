// The client of the tower-websockets topics protocol (PROTOCOL.md in the repository):
// subscribe, publish, reconnect with backoff, and recover what was missed. An ES module
// without dependencies, for browsers and Node.js (20 with --experimental-websocket, or 22).

/** The subprotocol this client speaks. */
export const PROTOCOL = "tower-websockets.topics.v1";

const DEFAULTS = Object.freeze({
  initialDelay: 500,
  maxDelay: 30_000,
  factor: 2,
  jitter: 0.5,
  stableAfter: 10_000,
  connectTimeout: 10_000,
  pingInterval: 25_000,
  pongTimeout: 10_000,
  requestTimeout: 10_000,
  callTimeout: 30_000,
  maxRetries: Infinity,
  tokenParam: "token",
});

/** Close codes an application uses to end a session for good (PROTOCOL.md §7). */
const TERMINAL = [4000, 4499];

const OPEN = 1;

/** A request the server refused, or one that could not be made. */
export class TopicsError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "TopicsError";
    this.code = code;
  }
}

/** One topic subscribed to: its handler, and the position of the last publication it got. */
export class Subscription {
  #client;

  constructor(client, topic, handler, since) {
    this.#client = client;
    this.topic = topic;
    /** `{epoch, offset}` of the last publication received; `null` for a topic without history. */
    this.position = since ? { epoch: since.epoch, offset: since.offset } : null;
    this.handler = handler;
    // "pending": asked, no reply yet; "live"; "resyncing": asked again after a jump;
    // "closed": unsubscribed.
    this.status = "pending";
    this.live = false;
    // While recovering: how many replayed publications are still to come, of how many.
    this.replaying = 0;
    this.replayed = 0;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    // A subscription nobody awaits must not make an unhandled rejection.
    this.ready.catch(() => {});
  }

  /** Stops the topic's publications; the client no longer subscribes to it on reconnect. */
  unsubscribe() {
    this.#client._unsubscribe(this);
  }
}

/**
 * A connection to one of a list of servers that keeps itself up: it reconnects with
 * jittered exponential backoff, subscribes again to every topic, and recovers what was
 * published meanwhile.
 */
export class TopicsClient {
  #urls;
  #options;
  #WebSocket;
  #random;
  #listeners = new Map();
  #handlers = new Map();
  #subscriptions = new Map();
  #pending = new Map();
  #nextId = 1;
  #socket = null;
  #state = "idle";
  #url = null;
  #attempt = 0;
  #urlIndex = 0;
  #retryTimer = null;
  #stableTimer = null;
  #connectTimer = null;
  #idleTimer = null;
  #pongTimer = null;
  #opening = 0;
  #limits = null;
  #connection = null;
  #user = null;
  #onOnline = () => this.#online();

  constructor(urls, options = {}) {
    if (typeof urls === "function") {
      this.#urls = urls;
    } else {
      this.#urls = (Array.isArray(urls) ? urls : [urls]).map(String);
      if (this.#urls.length === 0) {
        throw new TypeError("TopicsClient needs at least one URL");
      }
    }
    this.#options = { ...DEFAULTS, ...options };
    this.#WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this.#WebSocket !== "function") {
      throw new TypeError("no WebSocket here: pass options.WebSocket");
    }
    this.#random = options.random ?? Math.random;
  }

  /** "idle", "connecting", "open", "disconnected" (waiting to reconnect) or "closed". */
  get state() {
    return this.#state;
  }

  /** The URL of the current (or last) connection. */
  get url() {
    return this.#url;
  }

  /** The limits the server's `welcome` gave this connection; null before it arrives. */
  get limits() {
    return this.#limits;
  }

  /** This connection's id, as the server's `welcome` gave it; null before it arrives. */
  get connection() {
    return this.#connection;
  }

  /** The user the server knows this connection as; null when it knows none. */
  get user() {
    return this.#user;
  }

  /**
   * Calls `listener` on each `event`: "state", "connected", "disconnected", "recovered",
   * "gap", "error" or "closed". Returns a function that stops it.
   */
  on(event, listener) {
    if (!this.#listeners.has(event)) this.#listeners.set(event, new Set());
    this.#listeners.get(event).add(listener);
    return () => this.#listeners.get(event)?.delete(listener);
  }

  /** Connects, and keeps connecting until `close()`. */
  connect() {
    if (this.#state === "idle") {
      globalThis.addEventListener?.("online", this.#onOnline);
      this.#open();
    }
    return this;
  }

  /** Closes for good: no reconnection, pending publishes rejected. */
  close() {
    this.#end({ code: 1000, reason: "closed by the application" });
  }

  /** Ends for good, telling listeners why. */
  #end(detail) {
    if (this.#state === "closed") return;
    this.#setState("closed");
    globalThis.removeEventListener?.("online", this.#onOnline);
    this.#clearTimers();
    const socket = this.#socket;
    this.#socket = null;
    if (socket) {
      detach(socket);
      try {
        socket.close(1000);
      } catch {
        // Closing a socket that never opened may throw in some environments.
      }
    }
    this.#failPending(new TopicsError("closed", "the client was closed"));
    for (const subscription of this.#subscriptions.values()) {
      subscription.rejectReady(new TopicsError("closed", "the client was closed"));
    }
    this.#emit("closed", detail);
  }

  /**
   * Subscribes to `topic`: `handler(data, {topic, epoch, offset})` gets each publication,
   * JSON data as a value and binary data as a Uint8Array. With `since` (a position kept
   * from an earlier session), what was published after it is recovered first.
   */
  subscribe(topic, handler, { since } = {}) {
    if (typeof handler !== "function") throw new TypeError("subscribe needs a handler");
    if (this.#subscriptions.has(topic)) {
      throw new TopicsError("already_subscribed", `already subscribed to ${topic}`);
    }
    const subscription = new Subscription(this, topic, handler, since);
    this.#subscriptions.set(topic, subscription);
    if (this.#state === "open") this.#askSubscribe(subscription);
    return subscription;
  }

  /**
   * Publishes `data` to `topic`: any JSON value, or bytes (an ArrayBuffer or a typed
   * array). Resolves with the publication's position (`{}` for a topic without history);
   * rejects with a TopicsError when the server refuses, or when not connected: nothing
   * is queued while the connection is down.
   */
  publish(topic, data) {
    if (data === undefined) return Promise.reject(new TypeError("publish needs data"));
    if (this.#state !== "open") {
      return Promise.reject(new TopicsError("disconnected", "not connected"));
    }
    const id = this.#nextId++;
    const bytes = asBytes(data);
    const message = bytes
      ? framed({ type: "publish", id, topic }, bytes)
      : JSON.stringify({ type: "publish", id, topic, data });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.#pending.get(id)?.timer !== timer) return;
        this.#pending.delete(id);
        reject(new TopicsError("timeout", "no reply within the request timeout"));
      }, this.#options.requestTimeout);
      this.#pending.set(id, { kind: "publish", resolve, reject, timer });
      this.#socket.send(message);
    });
  }

  /**
   * Answers the server's calls of `method` (PROTOCOL.md `invoke`) with `handler(params)`:
   * its value, or the value its promise resolves with, is the result (JSON, or bytes as
   * an ArrayBuffer or typed array); an exception or a rejection answers an error, with the
   * error's `code` when it has a string one (a TopicsError, say) and "internal" otherwise.
   * A call of a method with no handler is answered "unknown_method". Returns a function
   * that removes the handler.
   */
  handle(method, handler) {
    if (typeof handler !== "function") throw new TypeError("handle needs a function");
    this.#handlers.set(method, handler);
    return () => {
      if (this.#handlers.get(method) === handler) this.#handlers.delete(method);
    };
  }

  /**
   * Calls the server's method `method` with `params` (any JSON value, or bytes: an
   * ArrayBuffer or a typed array). Resolves with the result (JSON as a value, bytes as a
   * Uint8Array); rejects with a TopicsError whose `code` is the server's (the method's
   * own, or `unknown_method`, `bad_params`, `timeout`, `too_many_calls`, `internal`...),
   * or `timeout` when no answer comes within `timeout` (default `callTimeout`, 30 s),
   * `aborted` when `signal` aborts, `disconnected` at once when the connection is lost or
   * down. A call given up on is cancelled on the server; none is sent twice.
   */
  call(method, params = null, { timeout, signal } = {}) {
    if (typeof method !== "string" || method === "") {
      return Promise.reject(new TypeError("call needs a method's name"));
    }
    if (signal?.aborted) {
      return Promise.reject(new TopicsError("aborted", "the call was aborted"));
    }
    if (this.#state !== "open") {
      return Promise.reject(new TopicsError("disconnected", "not connected"));
    }
    const id = this.#nextId++;
    const bytes = asBytes(params);
    const message = bytes
      ? framed({ type: "call", id, method }, bytes)
      : JSON.stringify({ type: "call", id, method, params });
    const socket = this.#socket;
    return new Promise((resolve, reject) => {
      const giveUp = (error) => {
        const request = this.#pending.get(id);
        if (request?.reject !== reject) return;
        this.#pending.delete(id);
        clearTimeout(request.timer);
        signal?.removeEventListener("abort", request.onAbort);
        // The server stops it; its `cancelled` answer finds nothing waiting.
        if (socket === this.#socket && this.#state === "open") {
          socket.send(JSON.stringify({ type: "cancel", id }));
        }
        reject(error);
      };
      const timer = setTimeout(
        () => giveUp(new TopicsError("timeout", "no answer within the call's timeout")),
        timeout ?? this.#options.callTimeout,
      );
      const onAbort = () => giveUp(new TopicsError("aborted", "the call was aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#pending.set(id, { kind: "call", resolve, reject, timer, signal, onAbort });
      socket.send(message);
    });
  }

  // ---- the connection ----

  #open() {
    this.#setState("connecting");
    const opening = ++this.#opening;
    const { getToken } = this.#options;
    if (typeof this.#urls !== "function" && !getToken) {
      this.#dial(this.#urls[this.#urlIndex++ % this.#urls.length]);
      return;
    }
    // The application gives the URL, or a token, afresh for each attempt.
    const attempt = this.#attempt;
    (async () => {
      const url =
        typeof this.#urls === "function"
          ? String(await this.#urls(attempt))
          : this.#urls[this.#urlIndex++ % this.#urls.length];
      if (!getToken) return url;
      const token = await getToken();
      const withToken = new URL(url);
      withToken.searchParams.set(this.#options.tokenParam, token);
      return withToken.href;
    })().then(
      (url) => {
        if (opening === this.#opening && this.#state === "connecting") this.#dial(url);
      },
      (error) => {
        if (opening !== this.#opening || this.#state !== "connecting") return;
        this.#lost(null, 1006, `no URL or token: ${error?.message ?? error}`);
      },
    );
  }

  #dial(url) {
    this.#url = url;
    let socket;
    try {
      socket = new this.#WebSocket(url, PROTOCOL);
    } catch (error) {
      this.#lost(null, 1006, String(error?.message ?? error));
      return;
    }
    socket.binaryType = "arraybuffer";
    this.#socket = socket;
    this.#connectTimer = setTimeout(
      () => this.#abandon(socket, "connect timeout"),
      this.#options.connectTimeout,
    );
    socket.onopen = () => this.#opened(socket);
    socket.onmessage = (event) => {
      if (socket === this.#socket) this.#receive(event.data);
    };
    socket.onclose = (event) => this.#lost(socket, event.code, event.reason);
    socket.onerror = () => {
      // Once open, a close event follows an error. Before, some implementations (Node's
      // undici, on a refused connection) fire no close: the attempt has failed.
      if (socket.readyState !== OPEN) this.#abandon(socket, "connection failed");
    };
  }

  /** Gives up an attempt that has not opened. */
  #abandon(socket, reason) {
    if (socket !== this.#socket || socket.readyState === OPEN) return;
    detach(socket);
    try {
      socket.close();
    } catch {
      // Already failing.
    }
    this.#lost(socket, 1006, reason);
  }

  #opened(socket) {
    if (socket !== this.#socket) return;
    clearTimeout(this.#connectTimer);
    this.#setState("open");
    this.#stableTimer = setTimeout(() => {
      this.#attempt = 0;
    }, this.#options.stableAfter);
    this.#heard();
    this.#emit("connected", { url: this.#url });
    for (const subscription of this.#subscriptions.values()) {
      this.#askSubscribe(subscription);
    }
  }

  /**
   * Something came from the server: the connection is alive. After `pingInterval` of
   * silence the client asks with a `ping`; with no message at all `pongTimeout` after
   * that, the connection is taken as dead (a laptop that slept, a network that went
   * away without a word) and replaced.
   */
  #heard() {
    clearTimeout(this.#pongTimer);
    clearTimeout(this.#idleTimer);
    this.#pongTimer = null;
    const socket = this.#socket;
    this.#idleTimer = setTimeout(() => {
      if (socket !== this.#socket || this.#state !== "open") return;
      const id = this.#send({ type: "ping" });
      this.#pending.set(id, { kind: "ping" });
      this.#pongTimer = setTimeout(
        () => this.#drop(socket, 4000, "the server did not answer a ping"),
        this.#options.pongTimeout,
      );
    }, this.#options.pingInterval);
  }

  /** Gives up an open connection that stopped working, and reconnects. */
  #drop(socket, code, reason) {
    if (socket !== this.#socket) return;
    detach(socket);
    try {
      socket.close(code, reason);
    } catch {
      // Some implementations refuse to close a socket whose network is gone.
    }
    this.#lost(socket, 1006, reason);
  }

  #lost(socket, code, reason) {
    if (socket !== this.#socket || this.#state === "closed") return;
    if (socket) detach(socket);
    this.#socket = null;
    this.#limits = null;
    this.#connection = null;
    this.#user = null;
    this.#clearTimers();
    const wasOpen = this.#state === "open";
    this.#failPending(new TopicsError("disconnected", "the connection was lost"));
    for (const subscription of this.#subscriptions.values()) {
      subscription.status = "pending";
      // A replay cut short says nothing about the next one.
      subscription.replaying = 0;
    }
    if (code >= TERMINAL[0] && code <= TERMINAL[1]) {
      this.#end({ code, reason, terminal: true });
      return;
    }
    if (this.#attempt >= this.#options.maxRetries) {
      this.#end({ code, reason, retries: this.#attempt });
      return;
    }
    const delay = this.#delay();
    this.#attempt += 1;
    this.#setState("disconnected");
    this.#emit("disconnected", { url: this.#url, code, reason, wasOpen, delay });
    if (this.#state !== "disconnected") return; // a listener closed the client
    this.#retryTimer = setTimeout(() => this.#open(), delay);
  }

  /** The network is back (a browser's `online` event): a waiting client tries at once. */
  #online() {
    if (this.#state !== "disconnected") return;
    clearTimeout(this.#retryTimer);
    this.#open();
  }

  #setState(state) {
    const previous = this.#state;
    if (previous === state) return;
    this.#state = state;
    this.#emit("state", { state, previous });
  }

  /** The wait before the next attempt: exponential in the failed attempts, jittered. */
  #delay() {
    const { initialDelay, maxDelay, factor, jitter } = this.#options;
    const base = Math.min(maxDelay, initialDelay * factor ** this.#attempt);
    return Math.round(base * (1 - jitter + jitter * this.#random()));
  }

  #clearTimers() {
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#stableTimer);
    clearTimeout(this.#connectTimer);
    clearTimeout(this.#idleTimer);
    clearTimeout(this.#pongTimer);
  }

  #failPending(error) {
    for (const request of this.#pending.values()) {
      clearTimeout(request.timer);
      request.signal?.removeEventListener("abort", request.onAbort);
      if (request.kind === "publish" || request.kind === "call") request.reject(error);
    }
    this.#pending.clear();
  }

  #emit(event, detail) {
    for (const listener of this.#listeners.get(event) ?? []) {
      try {
        listener(detail);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  #send(request) {
    const id = this.#nextId++;
    this.#socket.send(JSON.stringify({ ...request, id }));
    return id;
  }

  // ---- subscriptions ----

  #askSubscribe(subscription) {
    const request = { type: "subscribe", topic: subscription.topic };
    if (subscription.position) request.since = subscription.position;
    subscription.status = "pending";
    const id = this.#send(request);
    // A server that does not answer a subscribe is not serving this connection: another
    // one is tried, and the subscription goes on there.
    const socket = this.#socket;
    const timer = setTimeout(() => {
      if (this.#pending.get(id)?.timer !== timer) return;
      this.#emit("error", {
        topic: subscription.topic,
        code: "timeout",
        message: "no reply to a subscribe within the request timeout",
      });
      this.#drop(socket, 4000, "a subscribe went unanswered");
    }, this.#options.requestTimeout);
    this.#pending.set(id, {
      kind: "subscribe",
      subscription,
      since: Boolean(request.since),
      resumed: subscription.live,
      timer,
    });
  }

  _unsubscribe(subscription) {
    if (this.#subscriptions.get(subscription.topic) !== subscription) return;
    this.#subscriptions.delete(subscription.topic);
    subscription.status = "closed";
    if (this.#state === "open") {
      const id = this.#send({ type: "unsubscribe", topic: subscription.topic });
      this.#pending.set(id, { kind: "unsubscribe" });
    }
  }

  /** Offsets jumped: publications were skipped for this client. Ask again from its position. */
  #resync(subscription) {
    subscription.status = "resyncing";
    const id = this.#send({ type: "unsubscribe", topic: subscription.topic });
    this.#pending.set(id, { kind: "unsubscribe" });
    this.#askSubscribe(subscription);
    subscription.status = "resyncing";
  }

  // ---- what the server sends ----

  #receive(raw) {
    let message;
    let bytes;
    try {
      if (typeof raw === "string") {
        message = JSON.parse(raw);
      } else {
        const view = new DataView(raw);
        const length = view.getUint32(0);
        message = JSON.parse(new TextDecoder().decode(new Uint8Array(raw, 4, length)));
        bytes = new Uint8Array(raw, 4 + length);
      }
    } catch {
      this.#emit("error", {
        code: "bad_message",
        message: "the server sent a message this client cannot read",
      });
      return;
    }
    if (message === null || typeof message !== "object") return;
    this.#heard();
    if (message.type === "welcome") {
      this.#limits = message.limits ?? null;
      this.#connection = message.connection ?? null;
      this.#user = message.user ?? null;
      return;
    }
    if (message.type === "publication") {
      this.#publication(message, bytes ?? message.data);
      return;
    }
    if (message.type === "invoke") {
      this.#invoked(message, bytes ?? message.params);
      return;
    }
    if (message.type === "message") {
      this.#emit("message", { data: bytes ?? message.data });
      return;
    }
    if (message.type === "error" && (message.id === null || message.id === undefined)) {
      this.#emit("error", { code: message.code, message: message.message });
      return;
    }
    const request = this.#pending.get(message.id);
    if (!request) return;
    this.#pending.delete(message.id);
    clearTimeout(request.timer);
    if (request.kind === "call") {
      request.signal?.removeEventListener("abort", request.onAbort);
      if (message.type === "result") {
        request.resolve(bytes ?? message.result);
      } else {
        request.reject(new TopicsError(message.code ?? "unknown", message.message ?? "refused"));
      }
    } else if (request.kind === "publish") {
      if (message.type === "published") {
        request.resolve(
          message.epoch === undefined ? {} : { epoch: message.epoch, offset: message.offset },
        );
      } else {
        request.reject(new TopicsError(message.code ?? "unknown", message.message ?? "refused"));
      }
    } else if (request.kind === "subscribe") {
      this.#subscribed(request, message);
    }
  }

  /** The server calls one of this client's methods: answer with a `return`, always. */
  async #invoked(message, params) {
    const socket = this.#socket;
    const { id, method } = message;
    let answer;
    try {
      const handler = this.#handlers.get(method);
      if (!handler) throw new TopicsError("unknown_method", `no handler for ${method}`);
      const result = await handler(params ?? null);
      const bytes = asBytes(result);
      answer = bytes
        ? framed({ type: "return", id }, bytes)
        : JSON.stringify({ type: "return", id, result: result === undefined ? null : result });
    } catch (error) {
      const code = typeof error?.code === "string" && error.code !== "" ? error.code : "internal";
      const text = code === "internal" ? "the handler failed" : String(error?.message ?? "");
      answer = JSON.stringify({ type: "return", id, error: { code, message: text } });
    }
    // An answer for a connection that is gone has nobody to go to.
    if (socket === this.#socket && this.#state === "open") socket.send(answer);
  }

  #subscribed(request, message) {
    const { subscription } = request;
    if (this.#subscriptions.get(subscription.topic) !== subscription) return;
    if (message.type !== "subscribed") {
      this.#subscriptions.delete(subscription.topic);
      subscription.status = "closed";
      const error = new TopicsError(message.code ?? "unknown", message.message ?? "refused");
      subscription.rejectReady(error);
      this.#emit("error", { topic: subscription.topic, code: error.code, message: error.message });
      return;
    }
    const replayed = message.replayed ?? 0;
    subscription.position =
      message.epoch === undefined
        ? null
        : { epoch: message.epoch, offset: message.offset - replayed };
    subscription.status = "live";
    const resumed = request.resumed;
    subscription.live = true;
    subscription.resolveReady({
      epoch: message.epoch,
      offset: message.offset,
      recovered: message.recovered,
      replayed,
    });
    const topic = subscription.topic;
    subscription.replaying = 0;
    if (request.since && message.recovered) {
      subscription.replaying = replayed;
      subscription.replayed = replayed;
      if (replayed === 0) this.#emit("recovered", { topic, replayed: 0 });
    } else if (request.since) {
      this.#emit("gap", { topic, reason: "not_recovered", replayed });
    } else if (resumed) {
      // A topic without history: whatever was published while away is gone.
      this.#emit("gap", { topic, reason: "no_history", replayed: 0 });
    }
  }

  #publication(message, data) {
    const subscription = this.#subscriptions.get(message.topic);
    if (!subscription || subscription.status !== "live") return;
    const position = subscription.position;
    if (message.epoch !== undefined && position) {
      if (message.epoch !== position.epoch) {
        this.#emit("gap", { topic: message.topic, reason: "epoch_changed", replayed: 0 });
      } else if (message.offset <= position.offset) {
        return; // already received
      } else if (message.offset > position.offset + 1) {
        this.#resync(subscription);
        return;
      }
      subscription.position = { epoch: message.epoch, offset: message.offset };
    } else if (message.epoch !== undefined) {
      subscription.position = { epoch: message.epoch, offset: message.offset };
    }
    try {
      subscription.handler(data, {
        topic: message.topic,
        epoch: message.epoch,
        offset: message.offset,
      });
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
    if (subscription.replaying > 0) {
      subscription.replaying -= 1;
      if (subscription.replaying === 0) {
        this.#emit("recovered", { topic: message.topic, replayed: subscription.replayed });
      }
    }
  }
}

/** `data` as a Uint8Array if it is bytes (an ArrayBuffer or a typed array); else null. */
function asBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return null;
}

/** A binary message: the header's length (4 bytes, big-endian), the header, the bytes. */
function framed(header, bytes) {
  const encoded = new TextEncoder().encode(JSON.stringify(header));
  const frame = new Uint8Array(4 + encoded.length + bytes.length);
  new DataView(frame.buffer).setUint32(0, encoded.length);
  frame.set(encoded, 4);
  frame.set(bytes, 4 + encoded.length);
  return frame;
}

function detach(socket) {
  socket.onopen = null;
  socket.onmessage = null;
  socket.onclose = null;
  socket.onerror = null;
}
