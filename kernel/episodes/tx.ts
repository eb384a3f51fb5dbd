import type { CloudId, Eci } from '../ids.ts';
import type { CloudState, InstallRecord, ScheduleRecord } from '../clouds/cloud-state.ts';
import { eciOps, exprKey } from '../clouds/cloud-state.ts';
import type { Doomed } from '../clouds/deletions.ts';
import { deepFreeze } from '../clouds/freeze.ts';
import { keys } from '../store/keys.ts';
import { eciView, type EciView } from '../capabilities/authority.ts';
import type { EciInfo } from '../ruleset.ts';
import { del, put, type WriteOp } from '../store/store.ts';

const DELETED = Symbol('deleted');

/**
 * The staged changes of one episode. Nothing here touches the store or the cloud's memory until
 * the host commits: `ops` go into one batch, then `apply` updates memory and `release` lets effects
 * leave the cloud. Dropping a Tx is how a failed episode leaves no trace.
 */
export class Tx {
  readonly ops: WriteOp[] = [];
  private readonly memory: Array<(cloud: CloudState) => void> = [];
  private readonly effects: Array<() => void> = [];
  /** Children whose whole subtree the host deletes in this commit (wherever in the realm they are). */
  readonly deletions: Doomed[] = [];
  private readonly ent = new Map<string, Map<string, unknown>>();
  private readonly expr = new Map<string, unknown>();
  private stagedInstalls: InstallRecord[] | null = null;
  private readonly gone = new Set<string>();
  /** Rulesets whose committed state this episode wipes (uninstalled, maybe installed again). */
  private readonly cleared = new Set<string>();
  private readonly sched = new Map<string, ScheduleRecord | null>();
  private readonly channels = new Map<string, EciInfo | null>();
  /** Names of the children created in this episode (for the duplicate-name and count checks). */
  readonly childNames = new Set<string>();
  /** The parent's ECIs on the children created in this episode. */
  readonly childEcis = new Set<string>();

  constructor(private readonly cloud: CloudState) {}

  /** The cloud whose episode this is. */
  get cloudId(): CloudId {
    return this.cloud.id;
  }

  /** Stage batch ops and the memory update that goes with them. */
  stage(ops: WriteOp[], apply?: (cloud: CloudState) => void): void {
    for (const op of ops) this.ops.push(op);
    if (apply) this.memory.push(apply);
  }

  /** Run `fn` only after the commit succeeded. */
  release(fn: () => void): void {
    this.effects.push(fn);
  }

  /** Installed rulesets as this episode sees them: installs and uninstalls apply at once. */
  get installs(): InstallRecord[] {
    return this.stagedInstalls ?? this.cloud.installs;
  }

  set installs(list: InstallRecord[]) {
    this.stagedInstalls = list;
  }

  getEntity(rid: string, name: string): unknown {
    const staged = this.ent.get(rid);
    if (staged?.has(name)) {
      const v = staged.get(name);
      return v === DELETED ? undefined : v;
    }
    return this.cleared.has(rid) ? undefined : this.cloud.ent.get(rid)?.get(name);
  }

  /** Whether the episode wrote (set or deleted) any entity of ruleset `rid`. */
  wroteEntities(rid: string): boolean {
    return (this.ent.get(rid)?.size ?? 0) > 0;
  }

  /** Entity names of a ruleset, sorted (so they read the same before and after a restart). */
  entityNames(rid: string): string[] {
    const names = new Set(this.cleared.has(rid) ? [] : this.cloud.ent.get(rid)?.keys());
    for (const [name, v] of this.ent.get(rid) ?? []) {
      if (v === DELETED) names.delete(name);
      else names.add(name);
    }
    return [...names].sort();
  }

  setEntity(rid: string, name: string, value: unknown): void {
    if (this.gone.has(rid)) return;
    let m = this.ent.get(rid);
    if (!m) {
      m = new Map();
      this.ent.set(rid, m);
    }
    m.set(name, value === undefined ? DELETED : value);
  }

  /**
   * A ruleset is uninstalled in this episode: forget its staged entity and expression writes, and
   * keep it from staging more (its rules stop running; the rule that uninstalled it may go on).
   */
  uninstalled(rid: string): void {
    this.ent.delete(rid);
    for (const k of [...this.expr.keys()]) if (k.startsWith(`${rid}!`)) this.expr.delete(k);
    this.gone.add(rid);
    this.cleared.add(rid);
  }

  /** A ruleset is (re)installed in this episode. */
  installed(rid: string): void {
    this.gone.delete(rid);
  }

  /** Was `rid` uninstalled in this episode (and not installed again)? */
  isUninstalled(rid: string): boolean {
    return this.gone.has(rid);
  }

  getExprState(rid: string, rule: string): unknown {
    const k = exprKey(rid, rule);
    if (this.expr.has(k)) return this.expr.get(k);
    return this.cleared.has(rid) ? undefined : this.cloud.exprState.get(k);
  }

  /** A schedule as this episode sees it (staged additions, changes and cancellations first). */
  schedule(id: string): ScheduleRecord | undefined {
    return this.sched.has(id) ? (this.sched.get(id) ?? undefined) : this.cloud.schedules.get(id);
  }

  /** Record a schedule staged in this episode (null: cancelled or finished). */
  stageSchedule(id: string, rec: ScheduleRecord | null): void {
    this.sched.set(id, rec);
  }

  /** How many schedules the cloud holds as this episode sees it. */
  scheduleCount(): number {
    return this.cloud.schedules.size + this.stagedDelta(this.sched, this.cloud.schedules);
  }

  /** An ECI of the cloud as this episode sees it (created or deleted in it included). */
  eci(id: string): EciInfo | undefined {
    const staged = this.channels.get(id);
    return staged === undefined ? this.cloud.ecis.get(id) : (staged ?? undefined);
  }

  /** The cloud's ECIs as this episode sees them. */
  ecis(): EciInfo[] {
    const out = new Map(this.cloud.ecis);
    for (const [id, info] of this.channels) {
      if (info) out.set(id, info);
      else out.delete(id);
    }
    return [...out.values()];
  }

  /** How many ECIs the cloud has as this episode sees it. */
  eciCount(): number {
    return this.cloud.ecis.size + this.stagedDelta(this.channels, this.cloud.ecis);
  }

  /** Stage a new ECI: its record, its index entry, and the cloud's memory. */
  addEci(info: EciInfo): void {
    this.channels.set(info.id, info);
    this.stage(eciOps(this.cloud.id, info), (c) => c.ecis.set(info.id, info));
  }

  /** Stage the deletion of an ECI (one created earlier in this episode included: the batch applies in order). */
  deleteEci(id: Eci): void {
    this.channels.set(id, null);
    this.stage([del(keys.eci(this.cloud.id, id)), del(keys.eciIndex(id))], (c) => c.ecis.delete(id));
  }

  /** The parent's ECI on each child of the cloud, as this episode sees them. */
  *childEciList(): Iterable<{ eci: string }> {
    yield* this.cloud.children.values();
    for (const eci of this.childEcis) yield { eci };
  }

  private stagedDelta<V>(staged: Map<string, V | null>, committed: Map<string, unknown>): number {
    let n = 0;
    for (const [id, v] of staged) {
      const had = committed.has(id);
      if (v !== null && !had) n++;
      else if (v === null && had) n--;
    }
    return n;
  }

  setExprState(rid: string, rule: string, state: unknown): void {
    if (this.gone.has(rid)) return;
    this.expr.set(exprKey(rid, rule), state);
  }

  /** Turn the staged entity and expression writes into batch ops; call once, before committing. */
  seal(): void {
    const id = this.cloud.id;
    for (const [rid, m] of this.ent) {
      for (const [name, v] of m) {
        this.ops.push(v === DELETED ? del(keys.entity(id, rid, name)) : put(keys.entity(id, rid, name), v));
      }
    }
    for (const [k, state] of this.expr) {
      const sep = k.indexOf('!');
      const key = keys.exprState(id, k.slice(0, sep), k.slice(sep + 1));
      this.ops.push(state === undefined ? del(key) : put(key, state));
    }
  }

  /** After the commit: update the cloud's memory, then release effects. */
  applyCommitted(): void {
    const cloud = this.cloud;
    // Wipes first, so state a reinstalled ruleset wrote in this same episode survives them.
    for (const rid of this.cleared) {
      cloud.ent.delete(rid);
      for (const k of [...cloud.exprState.keys()]) if (k.startsWith(`${rid}!`)) cloud.exprState.delete(k);
    }
    for (const [rid, m] of this.ent) {
      const ents = cloud.entities(rid);
      for (const [name, v] of m) {
        if (v === DELETED) ents.delete(name);
        else ents.set(name, deepFreeze(v));
      }
    }
    for (const [k, state] of this.expr) {
      if (state === undefined) cloud.exprState.delete(k);
      else cloud.exprState.set(k, deepFreeze(state));
    }
    for (const apply of this.memory) apply(cloud);
    for (const effect of this.effects) effect();
  }
}

/** The view of a cloud as an episode sees it, its staged ECIs and children included (capabilities/authority.ts). */
export function stagedView(tx: Tx): EciView {
  return eciView(
    (id) => tx.eci(id),
    () => tx.childEciList(),
  );
}
