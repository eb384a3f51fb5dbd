import { Host, type AppEngine, type Clock, type IdGenerator, type Limits, type Remote, type Ruleset, type Store } from '../kernel/index.ts';
import { builtinRulesets } from '../rulesets/index.ts';
import type { AppLimits } from '../rulesets/apps/index.ts';
import type { KrlLimits } from '../rulesets/krl/index.ts';
import { appSources, outbound, type AppSourceRules } from './apps/app-sources.ts';
import { openDataDir } from './data-dir.ts';
import type { HostKeyOptions } from './host-key.ts';
import type { DestinationRules } from './providers/destinations.ts';
import { HttpRemote } from './providers/http-remote.ts';
import type { Realm, RealmOptions } from './realm/realm.ts';
import { rejoinRealm } from './realm/rejoin.ts';
import { checkMembership, readMembership } from './realm/membership.ts';
import { setFlagsFromString } from 'node:v8';

// V8 tenures an allocation site for good once a GC finds nearly all its recent objects alive; a host
// allocates an episode's objects at the same sites as a cloud's lasting state, and once tenured they
// are all made in the old generation, so every scavenge scans them and major GCs come often. Apps
// (slower episodes, longer-lived objects) trip it: bench (i) in bench/README.md measures the gain.
setFlagsFromString('--no-allocation-site-pretenuring');

export interface OpenHostOptions {
  /** LevelDB directory (created 0700 if missing; refused when others may read it). Ignored when `store` is given. */
  dataDir?: string;
  store?: Store;
  /** fsync every commit (power-loss durable) instead of relying on the OS after each write. */
  sync?: boolean;
  /** Where the host key of `dataDir`'s sealed store comes from (channels/host-key.ts). */
  keys?: HostKeyOptions;
  clock?: Clock;
  ids?: IdGenerator;
  rulesets?: Ruleset[];
  limits?: Partial<Limits>;
  partitions?: number[];
  /** This host's id (default: kept in the store, made on first start). */
  hostId?: string;
  /** Join a realm of hosts over NATS; without it the host runs alone. */
  realm?: RealmOptions;
  /** Told when a host restarting in its realm fails to rejoin it (it tries again; see {@link enterRealm}). */
  onRealmTrouble?: (err: unknown) => void;
  /** The hosts of other providers this host may send events to (default: any). Ignored when `remote` is given. */
  destinations?: DestinationRules;
  /** How to reach other providers' hosts; default over HTTP(S), within `destinations`. */
  remote?: Remote;
  /** The base URL at which other providers reach this host (a server sets it once it listens, when not given). */
  url?: string;
  /** The apps clouds' owners install: where they may come from and the limits of their sandboxes (docs/apps.md). */
  apps?: AppOptions;
}

export interface AppOptions {
  sources?: AppSourceRules;
  limits?: Partial<AppLimits>;
  /** The budget of each KRL rule run and query (docs/krl.md, "Limits"). */
  krl?: Partial<KrlLimits>;
}

/** A host, and its realm when it is in one. */
export interface Node {
  host: Host;
  realm: Realm | null;
}

/**
 * The composition root: a host on a store, with the built-in rulesets registered and installed in
 * every new cloud, plus the caller's rulesets, reaching other providers over HTTP(S); in a realm,
 * joined to it (its partitions claimed before the host opens, its router and realm service attached).
 */
export async function openNode(opts: OpenHostOptions): Promise<Node> {
  // Made first: a bad list of destinations stops the start before the store is opened.
  const remote = opts.remote ?? new HttpRemote(opts.destinations);
  let store = opts.store;
  if (!store) {
    if (!opts.dataDir) throw new TypeError('openHost needs a dataDir or a store');
    store = await openDataDir(opts.dataDir, { sync: opts.sync ?? false, ...(opts.keys ? { keys: opts.keys } : {}) });
  }
  let realm: Realm | null = null;
  try {
    // A data directory bound to a realm starts only as that realm's host (membership.ts).
    const member = await readMembership(store);
    checkMembership(member, { realm: opts.realm ? (opts.realm.realm ?? 'kumo') : undefined, hostId: opts.hostId });
    const id = member?.hostId ?? (await Host.idOf(store, opts.ids, opts.hostId));
    if (opts.realm) realm = await enterRealm(opts.realm, id, member?.partitions, store, opts);
    const host = await open(store, id, realm, remote, opts);
    await realm?.attach(host);
    return { host, realm };
  } catch (err) {
    await realm?.close();
    if (!opts.store) await store.close().catch(() => undefined);
    throw err;
  }
}

/**
 * Join the realm: a host that was in it before (its partitions are kept in its store) opens at once
 * and joins in the background, trying again until it can (rejoin.ts); a host joining for the first
 * time waits for the join, which gives it its partitions. The NATS client is loaded only for the
 * join (a host alone carries none of it, ~7 MB resident), after a restarting host is open.
 */
async function enterRealm(o: RealmOptions, hostId: string, partitions: number[] | undefined, store: Store, opts: OpenHostOptions): Promise<Realm> {
  const join = async (): Promise<Realm> => (await import('./realm/realm.ts')).joinRealm(o, hostId, store, opts.ids);
  const name = o.realm ?? 'kumo';
  if (!partitions) return join();
  return rejoinRealm({ name, hostId, partitions, waitMs: o.requestMs ?? 10_000, ...(opts.onRealmTrouble ? { onTrouble: opts.onRealmTrouble } : {}) }, join);
}

function open(store: Store, id: string, realm: Realm | null, remote: Remote, opts: OpenHostOptions): Promise<Host> {
  const partitions = realm?.partitions ?? opts.partitions;
  return Host.open({
    store,
    id,
    ...(opts.clock ? { clock: opts.clock } : {}),
    ...(opts.ids ? { ids: opts.ids } : {}),
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(partitions ? { partitions } : {}),
    ...(realm ? { router: realm.router } : {}),
    ...(opts.url ? { url: opts.url } : {}),
    remote,
    rulesets: [...builtinRulesets, ...(opts.rulesets ?? [])],
    builtins: builtinRulesets.map((r) => r.rid),
    apps: appEngine(opts.apps ?? {}),
  });
}

/**
 * Apps run in sandboxes (rulesets/apps) and come from where the operator allows (app-sources.ts).
 * The sandbox (QuickJS, esbuild) is loaded with the first app a host starts, not before. A KRL
 * ruleset's source is an app too: compiled to closures (rulesets/krl), sandboxed by construction.
 */
function appEngine(o: AppOptions): AppEngine {
  return {
    load: async (source) => {
      const krl = await import('../rulesets/krl/index.ts');
      if (krl.isKrl(source)) return krl.compileKrl(source, { ...krl.DEFAULT_KRL_LIMITS, ...o.krl });
      const { DEFAULT_APP_LIMITS, loadApp } = await import('../rulesets/apps/index.ts');
      return loadApp(source, { ...DEFAULT_APP_LIMITS, ...o.limits });
    },
    fetch: appSources(o.sources),
    http: outbound(o.sources),
  };
}

/** A host alone (or the host of {@link openNode} when the caller does not need its realm). */
export async function openHost(opts: OpenHostOptions): Promise<Host> {
  return (await openNode(opts)).host;
}
