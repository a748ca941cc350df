/** The subprotocol this client speaks: `tower-websockets.topics.v1`. */
export declare const PROTOCOL: "tower-websockets.topics.v1";

/** A place in a topic's stream: its epoch, and the offset of a publication in it. */
export interface Position {
  epoch: string;
  offset: number;
}

/** Any value JSON can carry. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** What a handler is told about a publication besides its data. */
export interface PublicationInfo {
  topic: string;
  /** Absent for a topic without history. */
  epoch?: string;
  offset?: number;
}

/** A publication's data: a JSON value, or bytes for a binary payload. */
export type Data = Json | Uint8Array;

/** What a client may publish: a JSON value, or bytes. */
export type Publishable = Json | ArrayBuffer | ArrayBufferView;

/**
 * `T` if JSON can carry it (interfaces included, functions and symbols nowhere in it), or
 * bytes; `never` otherwise. Optional properties may be undefined: JSON leaves them out.
 */
export type JsonCompatible<T> = T extends null | boolean | number | string
  ? T
  : T extends ArrayBuffer | ArrayBufferView
    ? T
    : T extends (...args: never[]) => unknown
      ? never
      : T extends symbol | bigint | undefined
        ? never
        : T extends readonly (infer U)[]
          ? readonly JsonCompatible<U>[]
          : T extends object
            ? { [K in keyof T]: undefined extends T[K] ? JsonCompatible<Exclude<T[K], undefined>> | undefined : JsonCompatible<T[K]> }
            : never;

/** The limits the server holds this connection to, from its `welcome` (PROTOCOL.md §1). */
export interface Limits {
  /** The largest WebSocket message the server takes, in bytes. */
  message_size?: number;
  /** The most bytes of one publication's payload. */
  publication_size?: number;
  /** The most topics subscribed to at once. */
  subscriptions?: number;
  /** The most distinct topics this connection may publish to. */
  publish_topics?: number;
  /** Publications per second. */
  publish_rate?: number;
}

/** How a subscription began, from the server's `subscribed` reply. */
export interface Subscribed {
  /** The topic's position after what was replayed; absent without history. */
  epoch?: string;
  offset?: number;
  /** Only when the subscribe recovered from a position. */
  recovered?: boolean;
  replayed: number;
}

export interface Options {
  /** The first wait before reconnecting, in ms (default 500). */
  initialDelay?: number;
  /** The longest wait, in ms (default 30,000). */
  maxDelay?: number;
  /** How much each failed attempt multiplies the wait (default 2). */
  factor?: number;
  /** The share of the wait that is random (default 0.5: between half and all of it). */
  jitter?: number;
  /** How long a connection must stay open for the wait to start over, in ms (default 10,000). */
  stableAfter?: number;
  /** How long an attempt may take to open, in ms (default 10,000). */
  connectTimeout?: number;
  /** How long the server may be silent before the client sends a `ping`, in ms (default 25,000). */
  pingInterval?: number;
  /** How long after that `ping` a silent connection is taken as dead and replaced, in ms (default 10,000). */
  pongTimeout?: number;
  /**
   * How long a request may wait for its reply, in ms (default 10,000): a publish then
   * rejects with code "timeout"; a subscribe emits an "error" with that code and the
   * connection is replaced.
   */
  requestTimeout?: number;
  /** How long a call waits for its answer, unless it says, in ms (default 30,000). */
  callTimeout?: number;
  /** How many times in a row to try again before closing for good (default: no end). */
  maxRetries?: number;
  /**
   * Called before each attempt: a token the client puts in the URL's query, as
   * `tokenParam` (for a server that reads credentials there). Rejecting fails the attempt.
   */
  getToken?: () => string | Promise<string>;
  /** The query parameter that carries the token (default "token"). */
  tokenParam?: string;
  /** The WebSocket constructor (default: the global one). */
  WebSocket?: typeof WebSocket;
  /** The random numbers for the jitter, in [0, 1) (default: Math.random). */
  random?: () => number;
}

export type State = "idle" | "connecting" | "open" | "disconnected" | "closed";

export interface Events {
  /** Every change of `state`. */
  state: { state: State; previous: State };
  connected: { url: string };
  /** `delay`: the wait before the next attempt, in ms. */
  disconnected: { url: string; code: number; reason: string; wasOpen: boolean; delay: number };
  /** Everything published while away was replayed (`replayed` publications). */
  recovered: { topic: string; replayed: number };
  /**
   * Publications were missed and could not be given: reload the state. `not_recovered`:
   * the history no longer holds them (or the stream started over); `no_history`: the
   * topic keeps none; `epoch_changed`: the stream started over while connected.
   */
  gap: {
    topic: string;
    reason: "not_recovered" | "no_history" | "epoch_changed";
    replayed: number;
  };
  /** A message from the server's application (PROTOCOL.md `message`). */
  message: { data: Data };
  /** A refused subscribe (with its topic), or a message that could not be read. */
  error: { topic?: string; code: string; message: string };
  /**
   * Closed for good: by `close()` (code 1000), by the server with a code from 4000 to 4499
   * (`terminal`), or after `maxRetries` failed attempts (`retries`).
   */
  closed: { code: number; reason: string; terminal?: boolean; retries?: number };
}

/** How the client finds the server: one URL, several in turn, or a function asked before each attempt. */
export type Urls = string | string[] | ((attempt: number) => string | Promise<string>);

/**
 * A request the server refused (`code` as PROTOCOL.md lists), or one that could not be
 * made or answered ("disconnected", "closed", "timeout").
 */
export declare class TopicsError extends Error {
  readonly code: string;
  constructor(code: string, message: string);
}

/** One topic subscribed to, whose publications the app reads as `T`. */
export declare class Subscription<T = Data> {
  readonly topic: string;
  /** The position of the last publication received; null for a topic without history. */
  readonly position: Position | null;
  /** The handler each publication goes to. */
  readonly handler: (data: T, info: PublicationInfo) => void;
  /** Resolves with the first `subscribed` reply; rejects if the server refuses. */
  readonly ready: Promise<Subscribed>;
  /** Stops the topic's publications, for good. */
  unsubscribe(): void;
}

/** A connection to one of several servers that reconnects, resubscribes and recovers. */
export declare class TopicsClient {
  constructor(urls: Urls, options?: Options);
  readonly state: State;
  readonly url: string | null;
  /** The limits from the server's `welcome`; null before it arrives. */
  readonly limits: Limits | null;
  /** This connection's id from the server's `welcome`; null before it arrives. */
  readonly connection: string | null;
  /** The user the server knows this connection as; null when it knows none. */
  readonly user: string | null;
  on<E extends keyof Events>(event: E, listener: (detail: Events[E]) => void): () => void;
  connect(): this;
  close(): void;
  /**
   * `T` is what the app knows the topic's publications to be (the client does not check
   * it): a JSON shape, or Uint8Array for binary payloads.
   */
  subscribe<T = Data>(
    topic: string,
    handler: (data: T, info: PublicationInfo) => void,
    options?: { since?: Position },
  ): Subscription<T>;
  publish<T>(topic: string, data: T & JsonCompatible<T>): Promise<Partial<Position>>;
  /**
   * Calls the server's method. `R` is what the app knows the result to be (the client does
   * not check it): a JSON shape, or Uint8Array for a result in bytes. Rejects with a
   * TopicsError: the server's code, or "timeout", "aborted", "disconnected".
   */
  /**
   * Answers the server's calls of `method`: the handler's value (or its promise's) is the
   * result; a thrown error answers with its `code` (a string), or "internal". Returns a
   * function that removes the handler.
   */
  handle<P = Data>(
    method: string,
    handler: (params: P) => Publishable | void | Promise<Publishable | void>,
  ): () => void;
  call<R = Data, P = Json>(
    method: string,
    params?: P & JsonCompatible<P>,
    options?: CallOptions,
  ): Promise<R>;
}

/** How long a call may wait, and what may abort it. */
export interface CallOptions {
  /** In ms; default: the client's `callTimeout`. */
  timeout?: number;
  /** Aborting it rejects the call ("aborted") and cancels it on the server. */
  signal?: AbortSignal;
}
