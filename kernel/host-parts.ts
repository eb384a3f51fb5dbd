import { ActiveClouds, type Active } from './clouds/activation.ts';
import { Apps, type AppEngine } from './apps/apps.ts';
import type { CloudState } from './clouds/cloud-state.ts';
import { SignIn } from './capabilities/sign-in.ts';
import { ClaimCodes } from './capabilities/claim-codes.ts';
import type { Clock } from './clock.ts';
import { Idempotency } from './delivery/idempotency.ts';
import { Inbox } from './delivery/inbox.ts';
import { Listeners } from './delivery/listeners.ts';
import { Outbox } from './delivery/outbox.ts';
import type { Remote } from './delivery/remote.ts';
import { EpisodeLog } from './episodes/episode-log.ts';
import type { QueryEnv } from './episodes/query.ts';
import { createCloudOps } from './episodes/rule-effects.ts';
import { EpisodeRunner, type Delivery } from './episodes/runner.ts';
import { Tx } from './episodes/tx.ts';
import { isTransient, KumoError, UnknownCloudError } from './errors.ts';
import { newEid, type CloudId, type IdGenerator } from './ids.ts';
import type { Limits } from './limits.ts';
import type { Publish } from './observe.ts';
import { Dispatcher } from './requests/dispatch.ts';
import type { EventResult, PushMessage, Request } from './requests/request.ts';
import type { Router } from './requests/router.ts';
import type { KumoEvent, Ruleset } from './ruleset.ts';
import { Scheduler } from './schedules/scheduler.ts';
import { Committer } from './store/committer.ts';
import { keys, type OutboxEntry } from './store/keys.ts';
import type { Store } from './store/store.ts';
import { Transfers } from './transfers/transfers.ts';

/**
 * The parts of one host and how they are wired (docs/architecture.md): the active-cloud table and
 * its dispatcher, the episode runner and its group commit, the episode log, the scheduler, the
 * outbox and inbox, transfers and claim codes. Every request a part makes of the host (the outbox
 * delivering an entry, a rule asking for a move) goes through `handle`, the host's one entry point.
 */
export interface HostParts {
  readonly id: string;
  readonly store: Store;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly limits: Limits;
  readonly registry: Map<string, Ruleset>;
  readonly builtins: readonly Ruleset[];
  /** The apps of this host's clouds: their sources and sandboxes. */
  readonly apps: Apps;
  /** Partitions this host owns. */
  readonly owned: ReadonlySet<number>;
  /** How to reach other hosts of the realm; null for a host alone. */
  readonly router: Router | null;
  readonly remote: Remote;
  /** The base URL at which other providers reach this host, when known. */
  url: () => string | undefined;
  readonly publish: Publish;
  readonly committer: Committer;
  readonly clouds: ActiveClouds;
  readonly dispatcher: Dispatcher;
  readonly log: EpisodeLog;
  readonly runner: EpisodeRunner;
  readonly scheduler: Scheduler;
  readonly outbox: Outbox;
  readonly inbox: Inbox;
  readonly transfers: Transfers;
  readonly claims: ClaimCodes;
  readonly signIn: SignIn;
  readonly listeners: Listeners<PushMessage>;
  readonly queryEnv: QueryEnv;
  /** Keep a promise until it settles (closing waits for it). */
  track: <T>(p: Promise<T>) => Promise<T>;
  /** Run an event's episode in `a`'s mailbox; rejects with the episode's error. */
  runIn(a: Active, event: KumoEvent, d: Delivery): Promise<EventResult>;
  /** Run a `wrangler:<type>` event of the kernel's in a cloud here; a failure shows only in its log. */
  notify(cloudId: CloudId, type: string, attrs: Record<string, unknown>): Promise<void>;
  /** Stage changes to a cloud in its mailbox and commit them. */
  commitIn<T>(cloudId: CloudId, stage: (tx: Tx, cloud: CloudState) => T | Promise<T>): Promise<T>;
  /** Errors another part already reported (an episode or function that ran, another host): not refusals of this host. */
  reportedBy<E>(err: E): E;
  readonly reported: WeakSet<object>;
}

export interface PartsOptions {
  id: string;
  store: Store;
  clock: Clock;
  ids: IdGenerator;
  limits: Limits;
  registry: Map<string, Ruleset>;
  builtins: readonly Ruleset[];
  partitions: readonly number[];
  /** What runs the apps owners install; without it, installing one is refused. */
  apps: AppEngine | undefined;
  router: Router | null;
  remote: Remote;
  url: () => string | undefined;
  publish: Publish;
  /** Errors another part already reported (see HostParts.reported). */
  reported: WeakSet<object>;
  /** The host's one entry point: what parts ask of the host. */
  handle(request: Request): Promise<unknown>;
  /** Keep a promise until it settles. */
  track: <T>(p: Promise<T>) => Promise<T>;
}

/** Make the parts of a host. */
export function assemble(o: PartsOptions): HostParts {
  const { store, ids, limits, publish } = o;
  const now = (): number => o.clock.now();
  const owned = new Set(o.partitions);
  const { reported } = o;
  const reportedBy = <E>(err: E): E => {
    if (typeof err === 'object' && err !== null) reported.add(err);
    return err;
  };
  const committer = new Committer(store, publish);
  const apps = new Apps(store, o.apps, limits.appEngines);
  const clouds = new ActiveClouds(store, o.clock, limits, publish, o.builtins, apps);
  const dispatcher = new Dispatcher(clouds, store);
  const log = new EpisodeLog(store, limits.logEntries);
  const inCloud = <T>(cloudId: CloudId, task: (a: Active) => Promise<T>): Promise<T> => clouds.with(cloudId, (a) => a.mailbox.post(() => task(a)));
  // Filled in below: the parts that need the runner are made before it.
  let runner!: EpisodeRunner;
  const commitIn: HostParts['commitIn'] = (cloudId, stage) =>
    clouds.with(cloudId, (a) =>
      a.mailbox.post(async () => {
        if (a.closed) throw new UnknownCloudError(cloudId);
        const tx = new Tx(a.state);
        const staged = await stage(tx, a.state);
        await runner.commit(tx);
        return staged;
      }, true),
    );
  const runIn: HostParts['runIn'] = async (a, event, d) => {
    const o2 = await a.mailbox.post(() => runner.run(a, event, d));
    if (o2.ok) return o2.result;
    throw o2.ran ? reportedBy(o2.error) : o2.error;
  };
  const notify: HostParts['notify'] = (cloudId, type, attrs) => {
    const event: KumoEvent = { eid: newEid(ids), domain: 'wrangler', type, attrs, time: now() };
    return o.track(clouds.with(cloudId, (a) => runIn(a, event, {}))).then(
      () => undefined,
      () => undefined,
    );
  };
  const scheduler = new Scheduler({
    store,
    committer,
    ids,
    now,
    limits,
    publish,
    inCloud,
    deleting: (cloudId) => clouds.isDeleting(cloudId),
    process: (a, event, always) => runner.run(a, event, { always }),
  });
  const outbox = new Outbox({
    store,
    committer,
    ids,
    now,
    publish,
    log,
    limits,
    deliver: async (entry, seq) => {
      await o.handle({ op: 'deliver', eci: entry.eci, event: entry.event, from: entry.cloudId, seq, ...(entry.host !== undefined ? { host: entry.host } : {}) });
    },
    transient: (err, entry) => transient(err, entry),
    commitIn,
    destination: (location) => {
      const url = o.url();
      return url !== undefined && sameBase(location, url) ? undefined : o.remote.destination(location);
    },
    moved: (cloudId, eci, host) => void notify(cloudId, 'eci_moved', { eci, host }),
  });
  /** Is a failed delivery worth another try? */
  const transient = async (err: unknown, entry: OutboxEntry): Promise<boolean> => {
    if (err instanceof KumoError && (err.code === 'UNKNOWN_ECI' || err.code === 'UNKNOWN_CLOUD')) {
      // Its cloud moved and is not at its new host yet (a file being imported there), or an ECI
      // whose cloud is being deleted is still in the index (the deletion may fail); in a realm, a
      // host's map (this one's or the one asked) may not show a move yet.
      if (o.router && now() - entry.since < limits.unknownEciGraceMs) return true;
      return entry.moves !== undefined || (await store.get(keys.eciIndex(entry.eci))) !== undefined;
    }
    return isTransient(err);
  };
  const idempotency = new Idempotency(store, limits, now);
  const claims = new ClaimCodes({ store, committer, ids, now, limits, inCloud });
  const signIn = new SignIn({ store, committer, ids, now, limits, claims, inCloud });
  const listeners = new Listeners<PushMessage>();
  const ops = createCloudOps({
    ids,
    now,
    rulesets: o.registry,
    apps,
    builtins: o.builtins,
    limits,
    partition: () => newPartition(ids, o.partitions),
    owns: (p) => owned.has(p),
    outbox,
    remote: o.remote,
    url: o.url,
    scheduler,
    claims,
    move: (eci, to) =>
      void o.handle({ op: 'move', eci, to }).then(
        () => publish('move', { eci, to }),
        (err: unknown) => publish('move', { eci, to, error: err instanceof KumoError ? err.code : 'INTERNAL' }),
      ),
    push: (m) => {
      listeners.notify(m.eci, m);
      o.router?.publish(m);
    },
  });
  runner = new EpisodeRunner({ rulesets: o.registry, apps, limits, ops, log, committer, clouds, idempotency, outbox, now, publish });
  const transfers = new Transfers({ store, clouds, outbox, rulesets: o.registry, running: (a) => apps.running(a), now, commitIn, write: (w) => committer.commit(w), changed: () => dispatcher.landed() });
  const inbox = new Inbox(store, committer, clouds, runner, idempotency);
  return {
    id: o.id,
    store,
    clock: o.clock,
    ids,
    limits,
    registry: o.registry,
    builtins: o.builtins,
    owned,
    router: o.router,
    remote: o.remote,
    url: o.url,
    publish,
    committer,
    clouds,
    dispatcher,
    log,
    runner,
    scheduler,
    outbox,
    inbox,
    transfers,
    claims,
    signIn,
    listeners,
    apps,
    queryEnv: { rulesets: o.registry, apps, clock: o.clock, queryMs: limits.queryMs, publish },
    track: o.track,
    runIn,
    notify,
    commitIn,
    reportedBy,
    reported,
  };
}

/** A partition for a new cloud: one of `partitions`, at random. */
export function newPartition(ids: IdGenerator, partitions: readonly number[]): number {
  const b = ids.bytes(2);
  return partitions[((b[0]! << 8) | b[1]!) % partitions.length]!;
}

/** Do two base URLs name the same host (scheme, host, port and path, a trailing slash aside)? */
export function sameBase(a: string, b: string): boolean {
  try {
    const [u, v] = [new URL(a), new URL(b)];
    return u.origin === v.origin && u.pathname.replace(/\/+$/, '') === v.pathname.replace(/\/+$/, '');
  } catch {
    return false;
  }
}
