import { HostFencedError, KumoError, ShuttingDownError } from '../errors.ts';
import type { Publish } from '../observe.ts';

/** Kinds of request whose refusals are counted (metrics), and that a closing host no longer starts. */
export type Kind = 'event' | 'query' | 'claim';

/**
 * What a host lets in: nothing once it is fenced by its realm, nothing counted once it is closing;
 * what it let in is kept until it settles, so closing waits for it. A refusal of this host (not an
 * episode or function that ran, not another host's answer: those are `reported`) is counted.
 */
export class Admission {
  private readonly inflight = new Set<Promise<unknown>>();
  private closing = false;
  private fencedBy: HostFencedError | null = null;

  constructor(
    private readonly reported: WeakSet<object>,
    private readonly publish: Publish,
  ) {}

  /** Run `work`, refused once fenced; with a `kind`, also once closing, counted and kept. A throw is a rejection. */
  run<T>(kind: Kind | undefined, work: () => Promise<T>): Promise<T> {
    const refused = this.fencedBy ?? (kind !== undefined && this.closing ? new ShuttingDownError() : null);
    const p = refused ? Promise.reject(refused) : attempt(work);
    if (kind === undefined) return p;
    return this.track(
      p.catch((err: unknown) => {
        if (typeof err !== 'object' || err === null || !this.reported.has(err)) this.publish('refusal', { kind, code: err instanceof KumoError ? err.code : 'INTERNAL' });
        throw err;
      }),
    );
  }

  /** Keep `p` until it settles (closing waits for it). */
  track<T>(p: Promise<T>): Promise<T> {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p)).catch(() => undefined);
    return p;
  }

  /** Stop letting counted work in; what is in flight now. */
  close(): Array<Promise<unknown>> {
    this.closing = true;
    return [...this.inflight];
  }

  get isClosing(): boolean {
    return this.closing;
  }

  /** Refuse everything from now on with HOST_FENCED; false when it was fenced already. */
  fence(reason: string): boolean {
    if (this.fencedBy) return false;
    this.fencedBy = new HostFencedError(reason);
    return true;
  }

  get fenced(): HostFencedError | null {
    return this.fencedBy;
  }
}

function attempt<T>(work: () => Promise<T>): Promise<T> {
  try {
    return work();
  } catch (err) {
    return Promise.reject(err); // bad input found before any await
  }
}
