import type { CloudState, InstallRecord } from './cloud.ts';
import type { KumoEvent, ReadContext, RuleContext, ChildInfo, ChildSelector, ClaimCode, DeviceInfo, EciInfo, RegisteredRuleset, Ruleset, ScheduleInfo } from './ruleset.ts';
import type { Tx } from './tx.ts';
import { within, type Authority } from './authority.ts';

/** Structural changes a rule may stage; implemented by the host (see cloud-ops.ts). */
export interface CloudOps {
  now(): number;
  /** The base URL at which other providers reach this host, when known. */
  url(): string | undefined;
  newChild(tx: Tx, cloud: CloudState, name: string, rids?: unknown): Promise<ChildInfo>;
  deleteChild(tx: Tx, cloud: CloudState, which: string | ChildSelector): Promise<ChildInfo>;
  /** A new ECI; made through `creator`, it gets at most the creator's authority. */
  newEci(tx: Tx, cloud: CloudState, opts: { tags?: unknown; eventPolicy?: unknown; queryPolicy?: unknown }, creator: Authority | undefined): EciInfo;
  deleteEci(tx: Tx, cloud: CloudState, eci: string): void;
  /** A device: a child cloud with a device ECI and a claim code; only through an ECI with full authority. */
  newDevice(tx: Tx, cloud: CloudState, opts: { name: unknown; rids?: unknown; events?: unknown; expiresIn?: unknown }, creator: Authority | undefined): Promise<DeviceInfo>;
  /** A claim code hands over its ECI: made through `creator`, only for an ECI within the creator's authority. */
  newClaimCode(tx: Tx, cloud: CloudState, eci: unknown, expiresIn: unknown, creator: Authority | undefined): Promise<ClaimCode>;
  /** Move the cloud to host `to` after the episode; only through an ECI with its full authority. */
  moveTo(tx: Tx, cloud: CloudState, to: unknown, creator: Authority | undefined): void;
  /** Install a ruleset; the ECIs it declares, made through `creator`, get at most its authority. */
  install(tx: Tx, cloud: CloudState, rid: string, config: Record<string, unknown>, creator: Authority | undefined): void;
  uninstall(tx: Tx, cloud: CloudState, rid: string): void;
  scheduleAt(tx: Tx, cloud: CloudState, at: unknown, event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>): string;
  scheduleRepeat(tx: Tx, cloud: CloudState, cron: unknown, event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>): string;
  cancelSchedule(tx: Tx, cloud: CloudState, id: string): void;
  /**
   * An event to another cloud (on another provider's host when `host` is its base URL); made on
   * behalf of `caller`, it carries only ECIs within the caller's authority.
   */
  send(tx: Tx, cloud: CloudState, eci: unknown, event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>, caller: Authority | undefined, host?: unknown): void;
  push(tx: Tx, cloud: CloudState, eci: string, name: string, data: Record<string, unknown>): void;
}

const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function plain(attrs: Record<string, unknown> | undefined): Record<string, unknown> {
  return attrs ?? {};
}

/**
 * The read-only context of queries (and the read half of rule contexts). `caller`, the ECI the
 * event or query came through, sees only the ECIs within its authority.
 */
export function buildReadContext(cloud: CloudState, install: InstallRecord, rulesets: ReadonlyMap<string, Ruleset>, now: () => number, entity?: Tx, caller?: Authority): ReadContext {
  const installs = entity ? () => entity.installs : () => cloud.installs;
  const rid = install.rid;
  return {
    rid,
    config: install.config,
    cloud: { id: cloud.id, name: cloud.meta.name, parent: cloud.meta.parent },
    now,
    ent: entity
      ? { get: (n) => entity.getEntity(rid, n), has: (n) => entity.getEntity(rid, n) !== undefined, names: () => entity.entityNames(rid) }
      : { get: (n) => cloud.ent.get(rid)?.get(n), has: (n) => cloud.ent.get(rid)?.has(n) ?? false, names: () => [...(cloud.ent.get(rid)?.keys() ?? [])].sort() },
    // Sorted, so listings read the same before and after a restart.
    children: () => [...cloud.children.values()].map((c) => ({ ...c })).sort((a, b) => cmp(a.name, b.name)),
    ecis: () =>
      (entity ? entity.ecis() : [...cloud.ecis.values()])
        .filter((e) => !caller || within(e, caller))
        .map((e) => structuredClone(e))
        .sort((a, b) => cmp(a.id, b.id)),
    installed: () => installs().map((r) => ({ rid: r.rid, config: r.config })),
    registered: () => registered(rulesets),
    schedules: (): ScheduleInfo[] => [...cloud.schedules.values()].map((s) => ({ ...s })).sort((a, b) => a.next - b.next || cmp(a.id, b.id)),
  };
}

function registered(rulesets: ReadonlyMap<string, Ruleset>): RegisteredRuleset[] {
  return [...rulesets.values()]
    .map(({ rid, version, meta }) => ({ rid, version, ...(meta.name ? { name: meta.name } : {}), ...(meta.description ? { description: meta.description } : {}) }))
    .sort((a, b) => cmp(a.rid, b.rid));
}

export interface RuleContextInput {
  tx: Tx;
  cloud: CloudState;
  ops: CloudOps;
  install: InstallRecord;
  rulesets: ReadonlyMap<string, Ruleset>;
  rule: string;
  event: KumoEvent;
  eci: string | undefined;
  /** The authority of `eci` (undefined: the cloud acting on its own). */
  caller: Authority | undefined;
  attrs: Record<string, unknown>;
  captures: Record<string, unknown>;
  directive(d: { name: string; options: Record<string, unknown> }): void;
  raise(event: Pick<KumoEvent, 'domain' | 'type' | 'attrs'>): void;
  last(): void;
}

/** The sandbox one rule runs in: reads see the episode's staged writes; every write is staged. */
export function buildRuleContext(i: RuleContextInput): RuleContext {
  const { tx, cloud, ops, install } = i;
  const rid = install.rid;
  const read = buildReadContext(cloud, install, i.rulesets, () => ops.now(), tx, i.caller);
  // Listed property by property: `{ ...read, <25 more> }` makes V8 build a dictionary-mode object,
  // which cost ~25 µs per rule run (most of an episode's CPU); this literal costs well under 1 µs.
  return {
    rid: read.rid,
    config: read.config,
    cloud: read.cloud,
    now: read.now,
    children: read.children,
    ecis: read.ecis,
    installed: read.installed,
    registered: read.registered,
    schedules: read.schedules,
    rule: i.rule,
    hostUrl: ops.url(),
    event: i.event,
    eci: i.eci,
    attrs: i.attrs,
    captures: i.captures,
    ent: {
      get: read.ent.get,
      has: read.ent.has,
      names: read.ent.names,
      set: (name, value) => tx.setEntity(rid, name, value),
      delete: (name) => tx.setEntity(rid, name, undefined),
    },
    directive: (name, options) => i.directive({ name, options: options ?? {} }),
    raise: (domain, type, attrs) => i.raise({ domain, type, attrs: plain(attrs) }),
    last: i.last,
    push: (eci, name, data) => ops.push(tx, cloud, eci, name, data ?? {}),
    send: (eci, domain, type, attrs, host) => ops.send(tx, cloud, eci, { domain, type, attrs: plain(attrs) }, i.caller, host),
    scheduleAt: (at, domain, type, attrs) => ops.scheduleAt(tx, cloud, at, { domain, type, attrs: plain(attrs) }),
    scheduleRepeat: (cron, domain, type, attrs) => ops.scheduleRepeat(tx, cloud, cron, { domain, type, attrs: plain(attrs) }),
    cancelSchedule: (id) => ops.cancelSchedule(tx, cloud, id),
    newChild: (name, opts) => ops.newChild(tx, cloud, name, opts?.rids),
    deleteChild: (which) => ops.deleteChild(tx, cloud, which),
    newEci: (opts) => ops.newEci(tx, cloud, opts, i.caller),
    deleteEci: (eci) => ops.deleteEci(tx, cloud, eci),
    newDevice: (name, opts) => ops.newDevice(tx, cloud, { ...opts, name }, i.caller),
    newClaimCode: (eci, opts) => ops.newClaimCode(tx, cloud, eci, opts?.expiresIn, i.caller),
    moveTo: (to) => ops.moveTo(tx, cloud, to, i.caller),
    install: (r, config) => ops.install(tx, cloud, r, config ?? {}, i.caller),
    uninstall: (r) => ops.uninstall(tx, cloud, r),
  };
}
