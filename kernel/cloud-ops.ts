import type { CloudMeta, CloudState, InstallRecord, ScheduleRecord } from './cloud.ts';
import { exprKey } from './cloud.ts';
import type { CloudOps } from './context.ts';
import { nextCronTime } from './cron.ts';
import { InvalidArgsError, KumoError, LimitExceededError, UnknownRulesetError } from './errors.ts';
import { newCloudId, newEci, newEid, partitionOf, type CloudId, type Eci, type IdGenerator } from './ids.ts';
import { keys } from './keys.ts';
import type { Limits } from './limits.ts';
import { ALLOW_ALL_EVENTS, ALLOW_ALL_QUERIES, parseEventPolicy, parseQueryPolicy } from './policy.ts';
import type { ChildInfo, EciInfo, KumoEvent, Ruleset } from './ruleset.ts';
import type { WriteOp } from './store.ts';
import type { Tx } from './tx.ts';
import { checkEventName, checkAttrs } from './validate.ts';

export interface OutboxEntry {
  eci: string;
  event: KumoEvent;
}

/** A message a rule pushed to the listeners of an ECI. */
export interface PushMessage {
  cloudId: string;
  eci: string;
  name: string;
  data: Record<string, unknown>;
}

export interface CloudOpsDeps {
  ids: IdGenerator;
  now(): number;
  rulesets: ReadonlyMap<string, Ruleset>;
  /** Rids installed into every new cloud; they cannot be uninstalled. */
  builtins: readonly string[];
  limits: Limits;
  /** Pick the partition of a new cloud (one this host owns). */
  partition(): number;
  /** A key for a new outbox entry. */
  outboxKey(): string;
  /** Deliver an outbox entry once its episode has committed. */
  deliver(key: string, entry: OutboxEntry): void;
  /** Hand a pushed message to the listeners of an ECI. */
  push(message: PushMessage): void;
}

const NAME = /^[^\u0000-\u001f]{1,100}$/;
const TAG = /^[A-Za-z0-9_.-]{1,50}$/;

/** The tag on ECIs that cannot be deleted through wrangler (owner and parent channels). */
export const SYSTEM_TAG = 'system';

/** Batch ops creating a whole new cloud with one ECI and the given rulesets (built-ins first). */
export function newCloudOps(meta: CloudMeta, eci: EciInfo, installs: ReadonlyArray<{ rid: string; config: Record<string, unknown> }>): WriteOp[] {
  const ops: WriteOp[] = [
    { type: 'put', key: keys.meta(meta.id), value: meta },
    { type: 'put', key: keys.eci(meta.id, eci.id), value: eci },
    { type: 'put', key: keys.eciIndex(eci.id), value: meta.id },
  ];
  installs.forEach(({ rid, config }, i) => {
    const rec: InstallRecord = { rid, config, seq: i + 1 };
    ops.push({ type: 'put', key: keys.install(meta.id, rid), value: rec });
  });
  return ops;
}

/** The host's implementation of the structural changes a rule can stage. */
export function createCloudOps(deps: CloudOpsDeps): CloudOps {
  // What an episode has staged so far, so per-cloud limits count it too.
  const stagedByTx = new WeakMap<Tx, { names: Set<string>; ecis: number; schedules: number }>();
  const staged = (tx: Tx) => {
    let s = stagedByTx.get(tx);
    if (!s) {
      s = { names: new Set(), ecis: 0, schedules: 0 };
      stagedByTx.set(tx, s);
    }
    return s;
  };

  /** The config a ruleset gets when installed with none given (its schema's defaults). */
  const defaultConfig = (rid: unknown): { rid: string; config: Record<string, unknown> } => {
    const ruleset = typeof rid === 'string' ? deps.rulesets.get(rid) : undefined;
    if (!ruleset) throw new UnknownRulesetError(String(rid));
    if (!ruleset.validateConfig) return { rid: ruleset.rid, config: {} };
    const v = ruleset.validateConfig({});
    if (!v.ok) throw new InvalidArgsError(`${ruleset.rid} needs a config: ${v.issues}`);
    return { rid: ruleset.rid, config: v.value };
  };

  const findChild = (cloud: CloudState, which: string): ChildInfo | undefined => {
    for (const c of cloud.children.values()) if (c.id === which || c.name === which || c.eci === which) return c;
    return undefined;
  };

  const schedule = (tx: Tx, cloud: CloudState, rec: ScheduleRecord): string => {
    checkEventName(rec.domain, rec.type);
    checkAttrs(rec.attrs, deps.limits.attrsBytes);
    const s = staged(tx);
    if (cloud.schedules.size + s.schedules >= deps.limits.schedulesPerCloud) {
      throw new LimitExceededError('schedulesPerCloud', deps.limits.schedulesPerCloud, `a cloud may hold at most ${deps.limits.schedulesPerCloud} schedules`);
    }
    s.schedules++;
    tx.stageSchedule(rec.id, rec);
    tx.stage(
      [
        { type: 'put', key: keys.schedule(cloud.id, rec.id), value: rec },
        { type: 'put', key: keys.due(rec.next, cloud.id, rec.id), value: null },
      ],
      (c) => c.schedules.set(rec.id, rec),
    );
    return rec.id;
  };

  return {
    now: deps.now,

    async newChild(tx, cloud, name, rids = []) {
      if (typeof name !== 'string' || !NAME.test(name)) throw new InvalidArgsError('a child name must be 1 to 100 printable characters');
      if (!Array.isArray(rids) || rids.length > 100) throw new InvalidArgsError('rids must be an array of at most 100 rids');
      const installs = [...new Set([...deps.builtins, ...rids])].map(defaultConfig);
      const names = staged(tx).names;
      if (names.has(name) || cloud.children.byName(name) !== undefined) {
        throw new KumoError('DUPLICATE_NAME', `cloud ${cloud.meta.name} already has a child named ${JSON.stringify(name)}`, { name });
      }
      if (cloud.children.size + names.size >= deps.limits.childrenPerCloud) {
        throw new LimitExceededError('childrenPerCloud', deps.limits.childrenPerCloud, `a cloud may have at most ${deps.limits.childrenPerCloud} children`);
      }
      names.add(name);
      const partition = deps.partition();
      const id = newCloudId(deps.ids, partition);
      const eci: EciInfo = { id: newEci(deps.ids, partition), tags: ['parent', SYSTEM_TAG], eventPolicy: structuredClone(ALLOW_ALL_EVENTS), queryPolicy: structuredClone(ALLOW_ALL_QUERIES) };
      const child: ChildInfo = { id, name, eci: eci.id };
      tx.stage(
        [...newCloudOps({ id, name, parent: cloud.id, created: deps.now() }, eci, installs), { type: 'put', key: keys.child(cloud.id, id), value: child }],
        (c) => c.children.set(id, child),
      );
      return { ...child };
    },

    async deleteChild(tx, cloud, which) {
      const child = typeof which === 'string' ? findChild(cloud, which) : undefined;
      if (!child) throw new KumoError('UNKNOWN_CLOUD', `cloud ${cloud.meta.name} has no child ${JSON.stringify(which)}`);
      if (tx.deletions.includes(child.id as CloudId)) return { ...child };
      tx.deletions.push(child.id as CloudId);
      tx.stage([{ type: 'del', key: keys.child(cloud.id, child.id) }], (c) => c.children.delete(child.id as CloudId));
      return { ...child };
    },

    newEci(tx, cloud, opts) {
      const tags = opts.tags ?? [];
      if (!Array.isArray(tags) || tags.length > 20 || !tags.every((t) => typeof t === 'string' && TAG.test(t))) {
        throw new InvalidArgsError('tags must be an array of at most 20 names of [A-Za-z0-9_.-]');
      }
      const lower = tags.map((t: string) => t.toLowerCase());
      if (lower.includes(SYSTEM_TAG)) throw new InvalidArgsError(`the tag "${SYSTEM_TAG}" is reserved`);
      const s = staged(tx);
      if (cloud.ecis.size + s.ecis >= deps.limits.ecisPerCloud) {
        throw new LimitExceededError('ecisPerCloud', deps.limits.ecisPerCloud, `a cloud may have at most ${deps.limits.ecisPerCloud} ECIs`);
      }
      s.ecis++;
      const info: EciInfo = {
        id: newEci(deps.ids, partitionOf(cloud.id)),
        tags: lower,
        eventPolicy: parseEventPolicy(opts.eventPolicy),
        queryPolicy: parseQueryPolicy(opts.queryPolicy),
      };
      tx.stage(
        [
          { type: 'put', key: keys.eci(cloud.id, info.id), value: info },
          { type: 'put', key: keys.eciIndex(info.id), value: cloud.id },
        ],
        (c) => c.ecis.set(info.id, info),
      );
      return structuredClone(info);
    },

    deleteEci(tx, cloud, eci) {
      const info = cloud.ecis.get(eci as Eci);
      if (!info) throw new KumoError('UNKNOWN_ECI', `cloud ${cloud.meta.name} has no ECI ${JSON.stringify(eci)}`, { eci });
      if (info.tags.includes(SYSTEM_TAG)) throw new InvalidArgsError(`ECI ${eci} is a system channel and cannot be deleted`);
      tx.stage(
        [
          { type: 'del', key: keys.eci(cloud.id, info.id) },
          { type: 'del', key: keys.eciIndex(info.id) },
        ],
        (c) => c.ecis.delete(info.id),
      );
    },

    install(tx, cloud, rid, config) {
      const ruleset = typeof rid === 'string' ? deps.rulesets.get(rid) : undefined;
      if (!ruleset) throw new UnknownRulesetError(String(rid));
      if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new InvalidArgsError('config must be an object');
      let value = config;
      if (ruleset.validateConfig) {
        const v = ruleset.validateConfig(config);
        if (!v.ok) throw new InvalidArgsError(`config rejected by ${rid}: ${v.issues}`);
        value = v.value;
      }
      const existing = tx.installs.find((r) => r.rid === rid);
      const seq = existing?.seq ?? tx.installs.reduce((max, r) => Math.max(max, r.seq), 0) + 1;
      const rec: InstallRecord = { rid, config: value, seq };
      const installs = [...tx.installs.filter((r) => r.rid !== rid), rec].sort((a, b) => a.seq - b.seq);
      tx.installs = installs;
      tx.installed(rid);
      tx.stage([{ type: 'put', key: keys.install(cloud.id, rid), value: rec }], (c) => {
        c.installs = installs;
      });
    },

    uninstall(tx, cloud, rid) {
      if (deps.builtins.includes(rid)) throw new InvalidArgsError(`${rid} is built in and cannot be uninstalled`);
      if (!tx.installs.some((r) => r.rid === rid)) throw new UnknownRulesetError(rid);
      tx.uninstalled(rid);
      const installs = tx.installs.filter((r) => r.rid !== rid);
      tx.installs = installs;
      const ops: WriteOp[] = [{ type: 'del', key: keys.install(cloud.id, rid) }];
      for (const name of cloud.ent.get(rid)?.keys() ?? []) ops.push({ type: 'del', key: keys.entity(cloud.id, rid, name) });
      const prefix = exprKey(rid, '');
      for (const k of cloud.exprState.keys()) if (k.startsWith(prefix)) ops.push({ type: 'del', key: keys.exprState(cloud.id, rid, k.slice(prefix.length)) });
      // The Tx wipes the ruleset's state from memory when it applies (before any reinstall's writes).
      tx.stage(ops, (c) => {
        c.installs = installs;
      });
    },

    scheduleAt(tx, cloud, at, event) {
      if (typeof at !== 'number' || !Number.isFinite(at) || at < 0) throw new KumoError('INVALID_SCHEDULE', 'a schedule time must be a finite number of ms since the epoch');
      return schedule(tx, cloud, { id: newEid(deps.ids), ...event, next: Math.floor(at) });
    },

    scheduleRepeat(tx, cloud, cron, event) {
      if (typeof cron !== 'string') throw new KumoError('INVALID_SCHEDULE', 'a cron expression must be a string');
      return schedule(tx, cloud, { id: newEid(deps.ids), ...event, next: nextCronTime(cron, deps.now()), cron });
    },

    cancelSchedule(tx, cloud, id) {
      const rec = tx.schedule(id);
      if (!rec) throw new KumoError('UNKNOWN_SCHEDULE', `cloud ${cloud.meta.name} has no schedule ${JSON.stringify(id)}`, { id });
      tx.stage(
        [
          { type: 'del', key: keys.schedule(cloud.id, id) },
          { type: 'del', key: keys.due(rec.next, cloud.id, id) },
        ],
        (c) => c.schedules.delete(id),
      );
      tx.stageSchedule(id, null);
    },

    push(tx, cloud, eci, name, data) {
      if (!cloud.ecis.has(eci as Eci)) throw new KumoError('UNKNOWN_ECI', `cloud ${cloud.meta.name} has no ECI ${JSON.stringify(eci)} to push to`, { eci });
      if (typeof name !== 'string' || name.length === 0) throw new InvalidArgsError('a push needs a name');
      checkAttrs(data, deps.limits.attrsBytes, 'push data');
      tx.release(() => deps.push({ cloudId: cloud.id, eci, name, data }));
    },

    send(tx, _cloud, eci, event) {
      if (typeof eci !== 'string') throw new InvalidArgsError('send needs an ECI');
      checkEventName(event.domain, event.type);
      checkAttrs(event.attrs, deps.limits.attrsBytes);
      const entry: OutboxEntry = { eci, event: { eid: newEid(deps.ids), ...event, time: deps.now() } };
      const key = deps.outboxKey();
      tx.stage([{ type: 'put', key, value: entry }]);
      tx.release(() => deps.deliver(key, entry));
    },
  };
}
