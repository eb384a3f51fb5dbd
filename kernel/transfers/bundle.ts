import { asRecord, cloudRecords, recordEcis } from '../clouds/cloud-state.ts';
import { InvalidCloudFileError } from '../errors.ts';
import { isCloudId, isEci, type CloudId } from '../ids.ts';
import { dueKeyOf, keys, parseCloudKey, type CloudMeta, type CloudRecord, type InstallRecord, type Key, type OutboxEntry } from '../store/keys.ts';
import { appHash } from '../apps/apps.ts';

import { put, type Store, type WriteOp } from '../store/store.ts';
import { isList, isPlainObject, isStrings } from '../validate.ts';

/**
 * A subtree of clouds as data, to carry it to another host or provider: every record of every cloud
 * (their key ranges, as stored), and the events they sent that are not delivered yet. Host-wide
 * indexes are not carried: they are rebuilt from the records where the bundle lands.
 */
export interface CloudBundle {
  /** The top cloud of the subtree. */
  root: CloudId;
  /** Every cloud of the subtree, the root first. */
  clouds: CloudMeta[];
  /** Every record of those clouds, `[key, value]`, keys as stored. */
  records: Array<[string, unknown]>;
  /** Their outgoing events not delivered yet (carried when they leave for good). */
  outbox: OutboxEntry[];
  /** The sources of the apps its clouds installed, by content hash (checked where it lands). */
  apps?: Record<string, string>;
  /**
   * The base URL of the host it left, when that host knew its own: what its clouds sent to ECIs of
   * that host (or its realm) is sent there from wherever it lands.
   */
  from?: string;
}

/** Every record of the subtree under `root`, breadth first (children found through their parent's records). */
export async function readSubtree(store: Store, root: CloudId): Promise<{ clouds: CloudMeta[]; records: CloudRecord[] }> {
  const clouds: CloudMeta[] = [];
  const records: CloudRecord[] = [];
  const queue: CloudId[] = [root];
  for (let id = queue.shift(); id; id = queue.shift()) {
    for (const r of await cloudRecords(store, id)) {
      records.push(r);
      if (r.kind === 'meta') clouds.push({ ...r.value, id });
      else if (r.kind === 'kid') queue.push(r.childId);
    }
  }
  return { clouds, records };
}

/** The rids of the host's rulesets installed in any cloud of a bundle (apps travel with it). */
export function bundleRulesets(bundle: CloudBundle): string[] {
  const rids = new Set<string>();
  for (const [k, v] of bundle.records) {
    const cloud = cloudOf(k);
    if (cloud && parseCloudKey(cloud, k)?.kind === 'rs' && (v as InstallRecord).app === undefined) rids.add((v as InstallRecord).rid);
  }
  return [...rids].sort();
}

/** The content hashes of the apps installed in the clouds of `records`. */
export function appHashes(records: ReadonlyArray<{ kind: string; value: unknown }>): string[] {
  return [...new Set(records.flatMap((r) => (r.kind === 'rs' && (r.value as InstallRecord).app ? [(r.value as InstallRecord).app!.hash] : [])))].sort();
}

/** The sources of apps by hash, read from `store` to travel in a bundle. */
export async function appSources(store: Store, hashes: readonly string[]): Promise<Record<string, string>> {
  const apps: Record<string, string> = {};
  for (const hash of hashes) {
    const source = await store.get(keys.appSource(hash));
    if (source !== undefined) apps[hash] = source;
  }
  return apps;
}

function cloudOf(k: string): CloudId | undefined {
  const id = /^c!([^!]+)!/.exec(k)?.[1];
  return id !== undefined && isCloudId(id) ? id : undefined;
}

/**
 * Check a bundle that came from outside before anything of it is written: the shape, every cloud
 * listed with its record, and every key a record of one of the listed clouds (so a hostile bundle
 * cannot write host-wide keys or other clouds' records).
 */
export function checkBundle(value: unknown): CloudBundle {
  const bad = (why: string): never => {
    throw new InvalidCloudFileError('corrupt', `the cloud file is corrupt: ${why}`);
  };
  if (!isPlainObject(value)) return bad('not a bundle');
  const { root, clouds, records, outbox, from, apps = {} } = value;
  if (!isPlainObject(apps) || !Object.entries(apps).every(([hash, source]) => typeof source === 'string' && appHash(source) === hash)) return bad("an app's source does not match its hash");
  if (typeof root !== 'string' || !isCloudId(root)) return bad('no root cloud');
  if (from !== undefined && typeof from !== 'string') return bad('the host it left is not a URL');
  if (!isList(clouds) || !isList(records) || !isList(outbox)) return bad('missing parts');
  const ids = new Set<string>();
  for (const c of clouds) {
    if (!isPlainObject(c) || typeof c['id'] !== 'string' || !isCloudId(c['id'])) return bad('a cloud without an id');
    ids.add(c['id']);
  }
  const first = clouds[0];
  if (!isPlainObject(first) || first['id'] !== root) return bad('the root is not the first cloud');
  const metas = new Set<string>();
  for (const r of records) {
    if (!isList(r) || r.length !== 2) return bad('a record is not [key, value]');
    const [key, record] = r;
    if (typeof key !== 'string') return bad('a record is not [key, value]');
    const cloud = cloudOf(key);
    const kind = cloud !== undefined && ids.has(cloud) ? parseCloudKey(cloud, key)?.kind : undefined;
    if (!kind) return bad(`a record outside the clouds it lists (${key.slice(0, 60)})`);
    if (kind === 'eci' && !(isPlainObject(record) && isStrings(record['tags']))) return bad(`an ECI of cloud ${cloud} without its tags`);
    if (kind === 'rs' && isPlainObject(record) && record['app'] !== undefined) {
      const app = record['app'];
      if (!isPlainObject(app) || typeof app['hash'] !== 'string' || !Object.hasOwn(apps, app['hash']) || !isPlainObject(app['grant'])) return bad(`an app of cloud ${cloud} whose source is not in the file`);
    }
    if (kind === 'meta') {
      metas.add(cloud!);
      const declared: unknown = isPlainObject(record) ? record['builtinEcis'] : undefined;
      if (declared !== undefined && !(isPlainObject(declared) && Object.values(declared).every((ecis) => isList(ecis) && ecis.every((e) => typeof e === 'string' && isEci(e))))) {
        return bad(`cloud ${cloud} lists built-in ECIs that are not ECIs`);
      }
    }
  }
  for (const id of ids) if (!metas.has(id)) return bad(`cloud ${id} has no record`);
  for (const e of outbox) {
    if (!isPlainObject(e) || typeof e['cloudId'] !== 'string' || !ids.has(e['cloudId']) || typeof e['eci'] !== 'string' || !isPlainObject(e['event'])) return bad('an outgoing event of no listed cloud');
  }
  return value as unknown as CloudBundle;
}

/**
 * The writes that bring a bundle into a store: its records, and the host-wide index entries that
 * point at them (ECI index, due schedules, claim codes).
 */
export function bundleOps(bundle: CloudBundle): WriteOp[] {
  const ops: WriteOp[] = Object.entries(bundle.apps ?? {}).map(([hash, source]) => put(keys.appSource(hash), source));
  for (const [k, value] of bundle.records) {
    const cloud = cloudOf(k)!;
    const r = asRecord(cloud, k, value)!;
    ops.push(put(k as Key<unknown>, value));
    for (const eci of recordEcis(r)) ops.push(put(keys.eciIndex(eci), cloud));
    if (r.kind === 'sch') ops.push(put(dueKeyOf(cloud, value as Parameters<typeof dueKeyOf>[1]), null));
    else if (r.kind === 'claim') ops.push(put(keys.claimIndex(r.hash), { ...(value as object), cloudId: cloud } as never));
  }
  return ops;
}

/** The ECIs of a bundle's clouds. */
export function bundleEcis(bundle: CloudBundle): string[] {
  const out: string[] = [];
  for (const [k, value] of bundle.records) {
    const cloud = cloudOf(k);
    const r = cloud ? asRecord(cloud, k, value) : undefined;
    if (r) out.push(...recordEcis(r));
  }
  return out;
}
