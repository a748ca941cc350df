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
  /** The WebSocket constructor (default: the global one). */
  WebSocket?: typeof WebSocket;
  /** The random numbers for the jitter, in [0, 1) (default: Math.random). */
  random?: () => number;
}

export type State = "idle" | "connecting" | "open" | "disconnected" | "closed";

export interface Events {
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
  /** A refused subscribe (with its topic), or a message that could not be read. */
  error: { topic?: string; code: string; message: string };
  closed: Record<string, never>;
}

/** A request the server refused (`code` as PROTOCOL.md lists), or one that could not be made ("disconnected", "closed"). */
export declare class TopicsError extends Error {
  readonly code: string;
  constructor(code: string, message: string);
}

/** One topic subscribed to. */
export declare class Subscription {
  readonly topic: string;
  /** The position of the last publication received; null for a topic without history. */
  readonly position: Position | null;
  /** Resolves with the first `subscribed` reply; rejects if the server refuses. */
  readonly ready: Promise<Subscribed>;
  /** Stops the topic's publications, for good. */
  unsubscribe(): void;
}

/** A connection to one of several servers that reconnects, resubscribes and recovers. */
export declare class TopicsClient {
  constructor(urls: string | string[], options?: Options);
  readonly state: State;
  readonly url: string | null;
  on<E extends keyof Events>(event: E, listener: (detail: Events[E]) => void): () => void;
  connect(): this;
  close(): void;
  subscribe(
    topic: string,
    handler: (data: Data, info: PublicationInfo) => void,
    options?: { since?: Position },
  ): Subscription;
  publish(topic: string, data: Json | ArrayBuffer | ArrayBufferView): Promise<Partial<Position>>;
}
