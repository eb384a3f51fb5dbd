import type { CloudId, Eci } from '../ids.ts';
import { deepFreeze } from './freeze.ts';
import { keys, parseCloudKey, ranges, stored, type CloudMeta, type CloudRecord, type InstallRecord, type Range, type ScheduleRecord } from '../store/keys.ts';
import { asDeclared } from '../capabilities/declared-ecis.ts';
import { eciView, type EciView } from '../capabilities/authority.ts';
import type { ChildInfo, EciInfo, Ruleset } from '../ruleset.ts';
import { put, type Store, type WriteOp } from '../store/store.ts';

export type { CloudMeta, InstallRecord, ScheduleRecord };

/**
 * A cloud's children by id, with an index by name kept in step on every set and delete, so the
 * duplicate-name check of a new child is O(1) (scanning 1,000 children per new child was 17% of
 * CPU when creating clouds in bulk).
 */
export class ChildMap extends Map<CloudId, ChildInfo> {
  private readonly names = new Map<string, CloudId>();

  override set(id: CloudId, info: ChildInfo): this {
    this.unindex(id);
    this.names.set(info.name, id);
    return super.set(id, info);
  }

  override delete(id: CloudId): boolean {
    this.unindex(id);
    return super.delete(id);
  }

  override clear(): void {
    this.names.clear();
    super.clear();
  }

  /** The child with this name, if any. */
  byName(name: string): ChildInfo | undefined {
    const id = this.names.get(name);
    return id === undefined ? undefined : this.get(id);
  }

  private unindex(id: CloudId): void {
    const old = this.get(id);
    if (old && this.names.get(old.name) === id) this.names.delete(old.name);
  }
}

/**
 * An active cloud's state in memory: exactly what its key range holds (minus the episode log),
 * loaded in one range read on activation and changed only after a commit succeeds.
 */
export class CloudState {
  readonly ecis = new Map<string, EciInfo>(); // by ECI: any string may be looked up, only an EciInfo (its id an Eci) put in
  readonly children = new ChildMap();
  installs: InstallRecord[] = [];
  readonly ent = new Map<string, Map<string, unknown>>();
  readonly exprState = new Map<string, unknown>();
  readonly schedules = new Map<string, ScheduleRecord>();
  /** Applied eids of delivered events (at-most-once window), eid → time applied. */
  readonly applied = new Map<string, number>();
  logSeq = 0;

  constructor(public readonly meta: CloudMeta) {}

  get id(): CloudId {
    return this.meta.id;
  }

  entities(rid: string): Map<string, unknown> {
    let m = this.ent.get(rid);
    if (!m) {
      m = new Map();
      this.ent.set(rid, m);
    }
    return m;
  }
}

/** Expression-state map key for (rid, rule). */
export const exprKey = (rid: string, rule: string): string => `${rid}!${rule}`;

/**
 * Every record of a cloud in `range` (default: all of them), typed by kind, in key order. Loading,
 * deleting, exporting and importing a cloud are all built on this one listing.
 */
export async function cloudRecords(store: Store, id: CloudId, range: Range<unknown> = ranges.cloud(id)): Promise<CloudRecord[]> {
  return asRecords(id, await store.entries(range));
}

function asRecords(id: CloudId, rows: Array<[string, unknown]>): CloudRecord[] {
  const out: CloudRecord[] = [];
  for (const [key, value] of rows) {
    const r = asRecord(id, key, value);
    if (r !== undefined) out.push(r);
  }
  return out;
}

/** The record of cloud `id` stored under `key`, or undefined for a key that is not one of its records. */
export function asRecord(id: CloudId, key: string, value: unknown): CloudRecord | undefined {
  const r = parseCloudKey(id, key) as CloudRecord | undefined;
  if (r === undefined) return undefined;
  // The parsed key is a fresh object: give it the key and value in place (this runs for every record of every activation).
  r.key = key as never;
  r.value = value;
  return r;
}

/** The ECIs a record makes routable (the host-wide ECI index has an entry for each). */
export function recordEcis(r: CloudRecord): Eci[] {
  if (r.kind === 'eci') return [r.eci];
  if (r.kind === 'meta') return metaEcis(r.value);
  return [];
}

/** The ECIs of the built-ins a meta record lists. */
export function metaEcis(meta: Pick<CloudMeta, 'builtinEcis'>): Eci[] {
  return meta.builtinEcis ? Object.values(meta.builtinEcis).flat() : [];
}

/** The writes that make an ECI of cloud `id`: its record and its index entry. */
export function eciOps(id: CloudId, info: EciInfo): WriteOp[] {
  return [put(keys.eci(id, info.id), stored(info)), put(keys.eciIndex(info.id), id)];
}

/**
 * Load a cloud from the store (everything but its log and dead letters); `undefined` when it does
 * not exist. Every cloud has the `builtins`, first, whether or not it has a record of their install
 * (clouds made since built-ins have no such record), with the ECIs they declare as declared.
 */
export async function loadCloud(store: Store, id: CloudId, builtins: readonly Ruleset[] = []): Promise<CloudState | undefined> {
  const [rows, lastLog] = await Promise.all([store.entries(ranges.active(id)), store.keys({ ...ranges.logs(id), limit: 1, reverse: true })]);
  const records = asRecords(id, rows);
  const meta = records.find((r) => r.kind === 'meta');
  if (!meta) return undefined;
  const cloud = new CloudState({ ...meta.value, id });
  for (const r of records) {
    switch (r.kind) {
      case 'eci':
        cloud.ecis.set(r.eci, { id: r.eci, ...r.value });
        break;
      case 'kid':
        cloud.children.set(r.childId, { id: r.childId, ...r.value });
        break;
      case 'rs':
        cloud.installs.push(r.value);
        break;
      case 'ent':
        cloud.entities(r.rid).set(r.name, deepFreeze(r.value));
        break;
      case 'ee':
        cloud.exprState.set(exprKey(r.rid, r.rule), deepFreeze(r.value));
        break;
      case 'sch':
        cloud.schedules.set(r.sid, r.value);
        break;
      case 'eid':
        cloud.applied.set(r.eid, r.value);
        break;
    }
  }
  const stored = new Map(cloud.installs.map((r) => [r.rid, r]));
  const implicit = builtins.map((rs) => {
    const installed = stored.get(rs.rid);
    if (installed) return installed;
    const ecis = meta.value.builtinEcis?.[rs.rid] ?? [];
    for (const e of asDeclared(rs, ecis)) if (!cloud.ecis.has(e.id)) cloud.ecis.set(e.id, e);
    return { rid: rs.rid, config: {}, seq: 0, ...(ecis.length > 0 ? { ecis } : {}) };
  });
  const rest = cloud.installs.filter((r) => !builtins.some((rs) => rs.rid === r.rid)).sort((a, b) => a.seq - b.seq);
  cloud.installs = [...implicit, ...rest];
  // The at-most-once window forgets the oldest eids first: restore the order they were applied in.
  if (cloud.applied.size > 1) {
    const byTime = [...cloud.applied].sort((a, b) => a[1] - b[1]);
    cloud.applied.clear();
    for (const [eid, time] of byTime) cloud.applied.set(eid, time);
  }
  const last = lastLog[0];
  const parsed = last ? parseCloudKey(id, last) : undefined;
  cloud.logSeq = parsed?.kind === 'log' ? parsed.seq : 0;
  return cloud;
}

/** The view of a cloud's committed state, for redacting what leaves it (capabilities/authority.ts). */
export function committedView(cloud: CloudState): EciView {
  return eciView(
    (id) => cloud.ecis.get(id),
    () => cloud.children.values(),
  );
}
