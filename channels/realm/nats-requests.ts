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

/**
 * Why a request got no answer: nobody listens (`no-responders`: not taken), no answer in time
 * (`timeout`), no connection when it was to be sent (`disconnected`: not sent), or sent and then
 * lost (`lost`: the connection dropped, or its responder is gone, before the answer came).
 */
export type RequestFailure = 'no-responders' | 'timeout' | 'disconnected' | 'lost';

/**
 * Asks the responders on `subject` which of the requests `replies` (their reply subjects) they are
 * working on: the set, or null when nobody listens there any more.
 */
export type ResponderCheck = (subject: string, replies: string[]) => Promise<ReadonlySet<string> | null>;

/** How long a request waits before its responder is asked whether it still has it, and how often after. */
export const CHECK_AFTER_MS = 1_000;

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
  subject: string;
  /** Handed to the connection (so it may be applied, whatever happens next). */
  sent: boolean;
  at: number;
  /** A check of responders (see {@link Requester.watch}): not checked in turn. */
  probe: boolean;
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
  private check: ResponderCheck | null = null;
  private checker: NodeJS.Timeout | null = null;
  private checking = false;

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

  /** The answer to `data` on `subject`, or RequestFailed (no responders, no answer within `timeoutMs`, no connection, lost). `probe`: a check of responders. */
  request(subject: string, data: Uint8Array, timeoutMs: number, probe = false): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const token = (++this.seq).toString(36);
      const timer = setTimeout(() => this.fail(token, 'timeout'), timeoutMs);
      const w: Waiter = { resolve, reject, timer, subject, sent: false, at: Date.now(), probe };
      this.waiting.set(token, w);
      this.soon(() => {
        // Failed before its turn came (the connection dropped): never sent, so never applied.
        if (this.waiting.get(token) !== w) return;
        try {
          this.nc.publish(subject, data, { reply: this.prefix + token });
          w.sent = true;
        } catch {
          this.fail(token, 'disconnected');
        }
      });
      if (this.check && this.checker === null) this.checker = setInterval(() => void this.checkResponders(), CHECK_AFTER_MS);
    });
  }

  /**
   * Ask, every second, the responders of requests waiting longer than a second whether they still
   * have them: a responder that is gone (no responders), or that restarted and never heard of the
   * request, cannot answer it, so it fails at once as `lost` instead of waiting out its time limit.
   */
  watch(check: ResponderCheck): void {
    this.check = check;
  }

  /** Fail every request waiting for an answer: `disconnected` (not sent) or `lost` (sent), as each is. */
  failAll(): void {
    for (const [token, w] of [...this.waiting]) this.fail(token, w.sent ? 'lost' : 'disconnected');
  }

  private async checkResponders(): Promise<void> {
    if (this.checking || !this.check) return;
    if (this.waiting.size === 0) {
      clearInterval(this.checker!);
      this.checker = null;
      return;
    }
    this.checking = true;
    try {
      const old = Date.now() - CHECK_AFTER_MS;
      const bySubject = new Map<string, string[]>();
      for (const [token, w] of this.waiting) if (w.sent && w.at <= old && !w.probe) (bySubject.get(w.subject) ?? bySubject.set(w.subject, []).get(w.subject)!).push(token);
      await Promise.all(
        [...bySubject].map(async ([subject, tokens]) => {
          const working = await this.check!(
            subject,
            tokens.map((t) => this.prefix + t),
          ).catch(() => undefined);
          if (working === undefined) return; // no answer to the check either: wait for the request's own limit
          // Answered before the check's answer if it was answered at all (one connection keeps order).
          for (const t of tokens) if (!working?.has(this.prefix + t)) this.fail(t, 'lost');
        }),
      );
    } finally {
      this.checking = false;
    }
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
