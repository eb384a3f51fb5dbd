/** What requests need of a NATS connection (nats-link.ts hands over its own; the client is imported there only). */
export interface RequestConnection {
  subscribe(subject: string, opts: { callback: (err: Error | null, msg: Answer) => void }): unknown;
  publish(subject: string, data: Uint8Array, opts: { reply: string }): void;
}

/** A message on the inbox: an answer, or the server's status message when nobody listens. */
interface Answer {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers?: { readonly code: number };
}

/** Why a request got no answer. */
export type RequestFailure = 'no-responders' | 'timeout' | 'disconnected';

export class RequestFailed extends Error {
  constructor(readonly reason: RequestFailure) {
    super(`request failed: ${reason}`);
  }
}

/**
 * A queue whose calls run together once this turn of the event loop has handled its I/O: what they
 * publish then goes out in one socket write (nats.js flushes at the end of each microtask run, so
 * publishes from separate incoming requests would each cost a system call).
 */
export function sameTurn(): (fn: () => void) => void {
  let queued: Array<() => void> = [];
  const run = (): void => {
    const fns = queued;
    queued = [];
    for (const fn of fns) fn();
  };
  return (fn) => {
    if (queued.push(fn) === 1) setImmediate(run);
  };
}

interface Waiter {
  resolve(data: Uint8Array): void;
  reject(err: RequestFailed): void;
  timer: NodeJS.Timeout;
}

/**
 * Request/reply over one wildcard inbox subscription (the pattern nats.js uses), written here for
 * two costs measured on a front door host (bench (f1)): nats.js settles each request by also
 * rejecting it as "cancelled", building an Error and its stack trace every time (~17 µs), and it
 * writes each request to the socket in a system call of its own. Here a settled request costs a
 * map lookup, and the requests made in one turn of the event loop go out in one write.
 */
export class Requester {
  private readonly prefix: string;
  private readonly waiting = new Map<string, Waiter>();
  private seq = 0;

  /**
   * `inbox`: a subject prefix unique to this connection (nats.js's `createInbox()`); `soon`: the
   * queue requests are published from (the connection's own, so its answers go out with them).
   */
  constructor(
    private readonly nc: RequestConnection,
    inbox: string,
    private readonly soon = sameTurn(),
  ) {
    this.prefix = `${inbox}.`;
    nc.subscribe(`${this.prefix}*`, {
      callback: (err, msg) => {
        if (err === null) this.settle(msg);
      },
    });
  }

  /** The answer to `data` on `subject`, or RequestFailed (no responders, no answer within `timeoutMs`, no connection). */
  request(subject: string, data: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const token = (++this.seq).toString(36);
      const timer = setTimeout(() => this.fail(token, 'timeout'), timeoutMs);
      this.waiting.set(token, { resolve, reject, timer });
      this.soon(() => {
        try {
          this.nc.publish(subject, data, { reply: this.prefix + token });
        } catch {
          this.fail(token, 'disconnected');
        }
      });
    });
  }

  /** Fail every request waiting for an answer (the connection dropped: their answers are lost). */
  failAll(reason: RequestFailure): void {
    for (const token of [...this.waiting.keys()]) this.fail(token, reason);
  }

  private settle(msg: Answer): void {
    const token = msg.subject.slice(this.prefix.length);
    const w = this.waiting.get(token);
    if (!w) return; // timed out already
    this.waiting.delete(token);
    clearTimeout(w.timer);
    // The server answers a request nobody listens to with a status message: 503 and no data.
    if (msg.data.length === 0 && msg.headers?.code === 503) w.reject(new RequestFailed('no-responders'));
    else w.resolve(msg.data);
  }

  private fail(token: string, reason: RequestFailure): void {
    const w = this.waiting.get(token);
    if (!w) return;
    this.waiting.delete(token);
    clearTimeout(w.timer);
    w.reject(new RequestFailed(reason));
  }
}
