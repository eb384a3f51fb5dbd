import { backoffMs, RealmUnavailableError, type Backoff, type Host } from '../../kernel/index.ts';
import { JoiningRouter } from './joining-router.ts';
import type { HostRecord } from './placement.ts';
import type { Realm } from './realm.ts';
import { StartError } from '../start-error.ts';

export interface RejoinOptions {
  name: string;
  hostId: string;
  /** The partitions the host owned when it last ran in the realm (kept in its store). */
  partitions: number[];
  /** How long work for another host's ECI waits for the join (ms) before REALM_UNAVAILABLE. */
  waitMs: number;
  /** Told each time a try to join fails (it is tried again, up to every 30 s). */
  onTrouble?: (err: unknown) => void;
}

/** How a join that failed is tried again: from 0.5 s to 30 s. */
const REJOIN: Backoff = { firstMs: 500, maxMs: 30_000 };

/**
 * The realm of a host that was in it before and restarts: the host opens on the partitions it
 * owned and serves its own clouds at once, as it does while NATS is down, and joins in the
 * background once it is open (`join`, which loads the NATS client), trying again while that fails. Work for other
 * hosts' ECIs waits for the join (see JoiningRouter); other hosts get NO_RESPONDERS for this
 * host's clouds until it serves them, as they do while it restarts.
 */
export function rejoinRealm(o: RejoinOptions, join: () => Promise<Realm>): Realm {
  const router = new JoiningRouter(o.waitMs);
  let realm: Realm | null = null;
  let host: Host | null = null;
  let record: Omit<HostRecord, 'id'> | null = null;
  let stopped = false;
  const isStopped = (): boolean => stopped; // read afresh after each await
  let wake: (() => void) | null = null;
  // The join begins once the host is open (attached), so a restart is not slowed by it; or ends at stop().
  let begin: () => void = () => undefined;
  const begun = new Promise<void>((resolve) => (begin = resolve));
  let fence!: (reason: string) => void;
  const fenced = new Promise<string>((resolve) => (fence = resolve));

  let attached: Host | null = null;
  // Checked and marked before any await, so the join and attach() never attach the host twice.
  const attachTo = async (r: Realm): Promise<void> => {
    if (!host || attached === host) return;
    attached = host;
    await r.attach(host);
  };

  // The host's record, once the host has given it (listen()): from then on the realm knows its URL.
  const register = async (r: Realm): Promise<void> => {
    if (record) await r.register(record);
  };

  const tryOnce = async (): Promise<Realm> => {
    const r = await join();
    try {
      await attachTo(r);
      await register(r);
      return r;
    } catch (err) {
      attached = null;
      await r.stop().catch(() => undefined);
      await r.close().catch(() => undefined);
      throw err;
    }
  };
  // Joined (true), or stopped first (false).
  const loop = (async (): Promise<boolean> => {
    await begun;
    for (let attempt = 1; !isStopped(); attempt++) {
      try {
        const r = await tryOnce();
        if (isStopped()) {
          await r.stop();
          await r.close();
          return false;
        }
        realm = r;
        void r.fenced.then(fence);
        router.joined(r.router);
        // What came while the join was in its last steps (attach() and register() see `realm` from now on).
        await attachTo(r).catch((err: unknown) => o.onTrouble?.(err));
        await register(r).catch((err: unknown) => o.onTrouble?.(err));
        return true;
      } catch (err) {
        if (isStopped()) return false;
        // The realm refuses this host (its id is another data directory's, or it runs elsewhere): trying again will not help.
        if (err instanceof StartError) {
          router.giveUp();
          fence(err.message);
          return false;
        }
        o.onTrouble?.(err);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, backoffMs(attempt, REJOIN));
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
    return false;
  })();
  const joined = loop.then((ok) => {
    if (!ok) throw new RealmUnavailableError(`join realm ${o.name}`, 'this host stopped first');
  });
  joined.catch(() => undefined); // told to whoever waits for it; nobody has to

  return {
    name: o.name,
    hostId: o.hostId,
    partitions: o.partitions,
    router,
    joined,
    fenced,
    get devices() {
      return realm?.devices ?? null;
    },
    get connected() {
      return realm?.connected ?? false;
    },
    knownHosts: () => realm?.knownHosts() ?? [],
    hostOf: (eci) => realm?.hostOf(eci),
    interrupt: () => realm?.interrupt(),
    async attach(h) {
      host = h; // attached by the join, or now when it is done
      begin();
      if (realm) await attachTo(realm);
    },
    async register(r) {
      record = r;
      await realm?.register(r);
    },
    async stop() {
      stopped = true;
      begin();
      router.giveUp();
      wake?.();
      await loop;
      await realm?.stop();
    },
    close: async () => realm?.close(),
  };
}
