import { RealmUnavailableError, type Router } from '../../kernel/index.ts';

/**
 * The router of a host that serves its own clouds while it (re)joins its realm. Work for other
 * hosts' ECIs waits for the join, at most `waitMs`, then fails with REALM_UNAVAILABLE (503); once
 * joined, everything goes straight to the realm's router. It loads none of the NATS client, so a
 * host restarting in a realm is ready as fast as a host alone.
 */
export class JoiningRouter implements Router {
  private router: Router | null = null;
  private stopped = false;
  private readonly waiting = new Set<{ go(r: Router): void; fail(err: Error): void }>();
  /** Listeners waiting for the join (as long as it takes). */
  private readonly listeners = new Set<(r: Router) => void>();

  constructor(private readonly waitMs: number) {}

  /** The realm is joined: route through `router` from now on (and what was waiting, now). */
  joined(router: Router): void {
    this.router = router;
    for (const w of this.waiting) w.go(router);
    this.waiting.clear();
    for (const l of this.listeners) l(router);
    this.listeners.clear();
  }

  /** The host is stopping: what waits for the join fails now rather than at its time limit, and what comes later at once. */
  giveUp(): void {
    this.stopped = true;
    for (const w of this.waiting) w.fail(stoppedError());
    this.waiting.clear();
  }

  /** The realm's router once joined; REALM_UNAVAILABLE after `waitMs`, or at once when stopped. */
  private ready(): Promise<Router> {
    if (this.stopped) return Promise.reject(stoppedError());
    return new Promise((resolve, reject) => {
      const w = {
        go: (r: Router) => {
          clearTimeout(timer);
          resolve(r);
        },
        fail: (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      const timer = setTimeout(() => {
        this.waiting.delete(w);
        reject(new RealmUnavailableError('reach another host of the realm', 'this host is still joining its realm'));
      }, this.waitMs);
      this.waiting.add(w);
    });
  }

  /** Run `work` on the realm's router: now when joined, else once joined (see {@link ready}). */
  private via<T>(work: (router: Router) => Promise<T>): Promise<T> {
    return this.router ? work(this.router) : this.ready().then(work);
  }

  forward: Router['forward'] = (request) => this.via((router) => router.forward(request));
  follow: Router['follow'] = (eci, fn) => this.via((router) => router.follow(eci, fn));

  /** Listeners on other hosts are heard from the join on. */
  listen(eci: string, fn: Parameters<Router['listen']>[1]): () => void {
    if (this.router) return this.router.listen(eci, fn);
    let stop: (() => void) | undefined;
    const start = (router: Router): void => {
      stop = router.listen(eci, fn);
    };
    this.listeners.add(start);
    return () => {
      this.listeners.delete(start);
      stop?.();
    };
  }

  /** A push made before the join reaches this host's own listeners only (pushes are not kept). */
  publish(m: Parameters<Router['publish']>[0]): void {
    this.router?.publish(m);
  }
}

function stoppedError(): RealmUnavailableError {
  return new RealmUnavailableError('reach another host of the realm', 'this host stopped before it joined its realm');
}
