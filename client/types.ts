/** The wire shapes the client speaks (the host's README documents them); no kernel code is imported. */

/** A directive an event's episode returned. */
export interface Directive {
  name: string;
  options: Record<string, unknown>;
  meta: { rid: string; rule: string; eid: string };
}

/**
 * The host's answer to an event. `replay` is set when this is the recorded answer of an earlier send
 * with the same idempotency key: the event was applied once, earlier, and not again.
 */
export interface EventResult {
  eid: string;
  directives: Directive[];
  replay?: true;
}

/** A message a rule pushed to the client's ECI (`ctx.push(eci, name, data)`). */
export interface Push {
  eci: string;
  name: string;
  data: Record<string, unknown>;
}

/**
 * Where the client is: `connecting` (first attempt, or again after `offline`), `websocket` (events,
 * queries and pushes), `http` (the fallback when a WebSocket cannot connect: events and queries, no
 * pushes, a WebSocket tried again with backoff), `offline` (events wait in the queue), `closed`.
 */
export type ConnectionState = 'connecting' | 'websocket' | 'http' | 'offline' | 'closed';

/** An event as the client sends it: the idempotency key is fixed once and reused by every retry. */
export interface OutgoingEvent {
  domain: string;
  type: string;
  attrs: Record<string, unknown>;
  eid?: string;
  idempotencyKey: string;
}

/** One way to the host. Rejects with a KumoClientError: `DISCONNECTED`/`TIMEOUT` when the way is lost. */
export interface Transport {
  event(event: OutgoingEvent): Promise<EventResult>;
  query(rid: string, name: string, args: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

/** Timers, injectable for tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The part of the WHATWG WebSocket the client uses (browsers' own, or the `ws` package's in Node). */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;
