import type { Store, WriteOp } from './store.ts';
import type { Publish } from '../observe.ts';

/**
 * Group commit: batches handed in while a write is in flight are merged into the next single store
 * batch. Every caller's promise resolves only after the batch holding its ops is written, so
 * acknowledging stays durable; only the number of store writes shrinks under load.
 */
export class Committer {
  private pending: WriteOp[] = [];
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = [];
  private writing: Promise<void> | null = null;

  constructor(
    private readonly store: Store,
    private readonly publish: Publish,
  ) {}

  /** Write `ops` atomically (with whatever else is committing together). */
  commit(ops: WriteOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      for (const op of ops) this.pending.push(op);
      this.waiters.push({ resolve, reject });
      if (!this.writing) this.writing = this.flush();
    });
  }

  /** Resolves when everything handed in so far is written. */
  async drain(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async flush(): Promise<void> {
    // Let episodes finishing in this same tick join the batch. A microtask, not setImmediate: under
    // load batches form anyway while the previous write is in flight (the loop below), and a whole
    // event-loop turn per idle commit cost a lone sender ~25% of its events/s.
    await Promise.resolve();
    while (this.pending.length > 0) {
      const ops = this.pending;
      const waiters = this.waiters;
      this.pending = [];
      this.waiters = [];
      const start = performance.now();
      try {
        await this.store.write(ops);
        this.publish('commit', { episodes: waiters.length, ops: ops.length, ms: performance.now() - start });
        for (const w of waiters) w.resolve();
      } catch (err) {
        for (const w of waiters) w.reject(err);
      }
    }
    this.writing = null;
  }
}
