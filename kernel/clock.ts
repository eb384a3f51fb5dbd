/** A timer that can be cancelled. */
export interface Timer {
  cancel(): void;
}

/**
 * Time and timers; injected so everything time-based (schedules, idle eviction, outbox retries,
 * query time limits) is tested by moving a {@link ManualClock}, never by sleeping.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Call `fn` once, `ms` from now. A pending timer never keeps the process alive. */
  timeout(fn: () => void, ms: number): Timer;
  /** Call `fn` every `ms`. Never keeps the process alive. */
  interval(fn: () => void, ms: number): Timer;
}

/** Real time. */
export const systemClock: Clock = {
  now: () => Date.now(),
  timeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  interval(fn, ms) {
    const t = setInterval(fn, ms);
    t.unref();
    return { cancel: () => clearInterval(t) };
  },
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  every: number | null;
}

/** A clock that moves only when told to; its timers fire, in time order, as it moves past them. */
export class ManualClock implements Clock {
  private readonly timers = new Set<Pending>();
  private seq = 0;

  constructor(private t = 0) {}

  now(): number {
    return this.t;
  }

  timeout(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, null);
  }

  interval(fn: () => void, ms: number): Timer {
    return this.add(fn, ms, Math.max(1, ms));
  }

  /** Timers waiting to fire. */
  get pending(): number {
    return this.timers.size;
  }

  /** Move to time `t` (never backwards past a timer: timers due by `t` fire, in order). */
  set(t: number): void {
    for (let next = this.nextDue(t); next; next = this.nextDue(t)) {
      this.t = Math.max(this.t, next.at);
      if (next.every === null) this.timers.delete(next);
      else next.at += next.every;
      next.fn();
    }
    this.t = t;
  }

  /** Move forward by `ms`, firing the timers that come due on the way. */
  advance(ms: number): void {
    this.set(this.t + ms);
  }

  private add(fn: () => void, ms: number, every: number | null): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, every };
    this.timers.add(p);
    return { cancel: () => void this.timers.delete(p) };
  }

  private nextDue(until: number): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.timers) if (p.at <= until && (!best || p.at < best.at || (p.at === best.at && p.seq < best.seq))) best = p;
    return best;
  }
}
