import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLevel } from 'memory-level';
import { afterEach, expect, vi } from 'vitest';
import { LevelStore, ManualClock, seededIds, type Host, type Limits, type OrderedDb, type RangeQuery, type Remote, type Ruleset, type Store, type WriteOp } from '../kernel/index.ts';
import { openHost, type AppOptions } from '../channels/open-node.ts';
import type { DestinationRules } from '../channels/providers/destinations.ts';

const cleanups: Array<() => unknown> = [];

afterEach(async () => {
  while (cleanups.length > 0) await Promise.resolve(cleanups.pop()!()).catch(() => undefined);
});

/** Run `fn` after the current test (a throw or rejection of it is ignored). */
export function onCleanup(fn: () => unknown): void {
  cleanups.push(fn);
}

/** A fresh temp directory, removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'kumo-test-'));
  // With what a host keeps beside a data directory: its key file and owner ECI.
  onCleanup(() => Promise.all([dir, `${dir}.key`, `${dir}.eci`].map((p) => rm(p, { recursive: true, force: true }))));
  return dir;
}

/** An in-memory store (memory-level). */
export async function memoryStore(): Promise<Store & { db: MemoryLevel<string, Uint8Array> }> {
  const db = new MemoryLevel<string, Uint8Array>({ keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  return Object.assign(new LevelStore(db as unknown as OrderedDb), { db });
}

export interface TestHostOptions {
  dir?: string;
  store?: Store;
  clock?: ManualClock;
  rulesets?: Ruleset[];
  limits?: Partial<Limits>;
  seed?: number;
  remote?: Remote;
  destinations?: DestinationRules;
  url?: string;
  apps?: AppOptions;
}

/** A host on real LevelDB in `dir` (or the given store), with a manual clock and seeded ids. */
export async function testHost(opts: TestHostOptions = {}): Promise<{ host: Host; clock: ManualClock; root: { cloudId: string; eci: string } }> {
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 1));
  const host = await openHost({
    ...(opts.store ? { store: opts.store } : { dataDir: opts.dir ?? (await tempDir()) }),
    clock,
    ids: seededIds(opts.seed ?? 42),
    rulesets: opts.rulesets ?? [],
    ...(opts.limits ? { limits: opts.limits } : {}),
    ...(opts.remote ? { remote: opts.remote } : {}),
    ...(opts.destinations ? { destinations: opts.destinations } : {}),
    ...(opts.url ? { url: opts.url } : {}),
    ...(opts.apps ? { apps: opts.apps } : {}),
  });
  let closed = false;
  const close = host.close.bind(host);
  host.close = async () => {
    if (closed) return;
    closed = true;
    await close();
  };
  onCleanup(() => host.close());
  const root = await host.root();
  return { host, clock, root };
}

/** Every key in a store (for "nothing left behind" assertions). */
export async function allKeys(store: Store): Promise<string[]> {
  return store.keys({ gte: '', lt: '\uffff' });
}

/** The methods of a store a test may replace (to count, stall or fail them). */
export interface StoreOverrides {
  get?(key: string): Promise<unknown>;
  entries?(range: RangeQuery<unknown>): Promise<Array<[string, unknown]>>;
  keys?(range: RangeQuery<unknown>): Promise<string[]>;
  write?(ops: WriteOp[]): Promise<void>;
}

/** A store that delegates to `inner`, with some methods replaced. */
export function wrapStore(inner: Store, over: StoreOverrides): Store {
  return {
    get: (k: string) => (over.get ? over.get(k) : inner.get(k)),
    entries: (r: RangeQuery<unknown>) => (over.entries ? over.entries(r) : inner.entries(r)),
    keys: (r: RangeQuery<unknown>) => (over.keys ? over.keys(r) : inner.keys(r)),
    write: (ops: WriteOp[]) => (over.write ? over.write(ops) : inner.write(ops)),
    close: () => inner.close(),
  } as Store;
}

/** `store` with some of its methods replaced (to watch, slow or fail them). */
export function storeWith(store: Store, replaced: Partial<Pick<Store, 'get' | 'write'>>): Store {
  return {
    get: replaced.get ?? ((key: string) => store.get(key)),
    entries: (range) => store.entries(range),
    keys: (range) => store.keys(range),
    write: replaced.write ?? ((ops) => store.write(ops)),
    close: () => store.close(),
  };
}

/**
 * With vitest's fake timers on: `p` is still pending `ms - 1` ms of timers from now and settled at
 * `ms`. Resolves to what it settled to (pass `rejection(…)` for a promise that should reject).
 */
export async function settlesAfter<T>(p: Promise<T>, ms: number): Promise<T> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await vi.advanceTimersByTimeAsync(ms - 1);
  await Promise.resolve();
  expect(settled).toBe(false);
  await vi.advanceTimersByTimeAsync(1);
  expect(settled).toBe(true);
  return p;
}
