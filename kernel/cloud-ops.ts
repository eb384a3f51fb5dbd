import type { CloudMeta, CloudState, InstallRecord } from './cloud.ts';
import { exprKey } from './cloud.ts';
import type { CloudOps } from './context.ts';
import { DuplicateNameError, InvalidArgsError, LimitExceededError, UnknownCloudError, UnknownEciError, UnknownRulesetError } from './errors.ts';
import { newCloudId, newEci, partitionOf, type CloudId, type IdGenerator } from './ids.ts';
import { keys } from './keys.ts';
import type { Limits } from './limits.ts';
import type { Outbox } from './outbox.ts';
import { attenuate, redactEcis, stagedView, SYSTEM_TAG } from './authority.ts';
import { ALLOW_ALL_EVENTS, ALLOW_ALL_QUERIES } from './policy.ts';
import type { ChildInfo, ChildSelector, EciInfo, Ruleset } from './ruleset.ts';
import type { Scheduler } from './schedules.ts';
import { del, put, type WriteOp } from './store.ts';
import { checkAttrs, describe } from './validate.ts';

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
  outbox: Outbox;
  scheduler: Scheduler;
  /** Hand a pushed message to the listeners of an ECI. */
  push(message: PushMessage): void;
}

const NAME = /^[^\u0000-\u001f]{1,100}$/;
const TAG = /^[A-Za-z0-9_.-]{1,50}$/;
const CHILD_FIELDS = ['id', 'name', 'eci'];

export { SYSTEM_TAG };

/** Batch ops creating a whole new cloud with one ECI and the given rulesets (built-ins first). */
export function newCloudOps(meta: CloudMeta, eci: EciInfo, installs: ReadonlyArray<{ rid: string; config: Record<string, unknown> }>): WriteOp[] {
  const ops: WriteOp[] = [put(keys.meta(meta.id), meta), put(keys.eci(meta.id, eci.id), eci), put(keys.eciIndex(eci.id), meta.id)];
  installs.forEach(({ rid, config }, i) => ops.push(put(keys.install(meta.id, rid), { rid, config, seq: i + 1 })));
  return ops;
}

/** The host's implementation of the structural changes a rule can stage. */
export function createCloudOps(deps: CloudOpsDeps): CloudOps {
  /** The config a ruleset gets when installed with none given (its schema's defaults). */
  const defaultConfig = (rid: unknown): { rid: string; config: Record<string, unknown> } => {
    const ruleset = typeof rid === 'string' ? deps.rulesets.get(rid) : undefined;
    if (!ruleset) throw new UnknownRulesetError(typeof rid === 'string' ? rid : describe(rid));
    if (!ruleset.validateConfig) return { rid: ruleset.rid, config: {} };
    const v = ruleset.validateConfig({});
    if (!v.ok) throw new InvalidArgsError(`${ruleset.rid} needs a config: ${v.issues}`);
    return { rid: ruleset.rid, config: v.value };
  };

  /** The child `which` names: a string by its id, name or ECI; an object by every field it gives. */
  const findChild = (cloud: CloudState, which: unknown): ChildInfo | undefined => {
    const children = [...cloud.children.values()];
    if (typeof which === 'string') return children.find((c) => c.id === which || c.name === which || c.eci === which);
    const given = typeof which === 'object' && which !== null ? Object.entries(which).filter(([, v]) => v !== undefined) : [];
    if (given.length === 0 || given.some(([k, v]) => !CHILD_FIELDS.includes(k) || typeof v !== 'string')) return undefined;
    return children.find((c) => given.every(([k, v]) => c[k as keyof ChildInfo] === v));
  };
  const childLabel = (which: unknown): string =>
    typeof which === 'object' && which !== null
      ? Object.entries(which)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k} ${describe(v)}`)
          .join(' and ')
      : describe(which);

  return {
    now: deps.now,

    async newChild(tx, cloud, name, rids = []) {
      if (typeof name !== 'string' || !NAME.test(name)) throw new InvalidArgsError('a child name must be 1 to 100 printable characters');
      if (!Array.isArray(rids) || rids.length > 100) throw new InvalidArgsError('rids must be an array of at most 100 rids');
      const installs = [...new Set([...deps.builtins, ...rids])].map(defaultConfig);
      const names = tx.childNames;
      if (names.has(name) || cloud.children.byName(name) !== undefined) {
        throw new DuplicateNameError(`cloud ${cloud.meta.name} already has a child named ${JSON.stringify(name)}`, { name });
      }
      if (cloud.children.size + names.size >= deps.limits.childrenPerCloud) {
        throw new LimitExceededError('childrenPerCloud', deps.limits.childrenPerCloud, `a cloud may have at most ${deps.limits.childrenPerCloud} children`);
      }
      names.add(name);
      const partition = deps.partition();
      const id = newCloudId(deps.ids, partition);
      const eci: EciInfo = { id: newEci(deps.ids, partition), tags: ['parent', SYSTEM_TAG], eventPolicy: structuredClone(ALLOW_ALL_EVENTS), queryPolicy: structuredClone(ALLOW_ALL_QUERIES) };
      const child: ChildInfo = { id, name, eci: eci.id };
      tx.childEcis.add(eci.id);
      tx.stage(
        [...newCloudOps({ id, name, parent: cloud.id, created: deps.now() }, eci, installs), put(keys.child(cloud.id, id), child)],
        (c) => c.children.set(id, child),
      );
      return { ...child };
    },

    async deleteChild(tx, cloud, which) {
      const child = findChild(cloud, which);
      if (!child) throw new UnknownCloudError(childLabel(which), `cloud ${cloud.meta.name} has no child ${childLabel(which)}`);
      if (tx.deletions.includes(child.id as CloudId)) return { ...child };
      tx.deletions.push(child.id as CloudId);
      tx.stage([del(keys.child(cloud.id, child.id))], (c) => c.children.delete(child.id as CloudId));
      return { ...child };
    },

    newEci(tx, cloud, opts, creator) {
      const tags = opts.tags ?? [];
      if (!Array.isArray(tags) || tags.length > 20 || !tags.every((t) => typeof t === 'string' && TAG.test(t))) {
        throw new InvalidArgsError('tags must be an array of at most 20 names of [A-Za-z0-9_.-]');
      }
      const lower = tags.map((t: string) => t.toLowerCase());
      if (lower.includes(SYSTEM_TAG)) throw new InvalidArgsError(`the tag "${SYSTEM_TAG}" is reserved`);
      if (tx.eciCount() >= deps.limits.ecisPerCloud) {
        throw new LimitExceededError('ecisPerCloud', deps.limits.ecisPerCloud, `a cloud may have at most ${deps.limits.ecisPerCloud} ECIs`);
      }
      const info: EciInfo = { id: newEci(deps.ids, partitionOf(cloud.id)), tags: lower, ...attenuate(opts, creator) };
      tx.addEci(info);
      return structuredClone(info);
    },

    deleteEci(tx, cloud, eci) {
      const info = typeof eci === 'string' ? tx.eci(eci) : undefined;
      if (!info) throw new UnknownEciError(typeof eci === 'string' ? eci : describe(eci), `cloud ${cloud.meta.name} has no ECI ${describe(eci)}`);
      if (info.tags.includes(SYSTEM_TAG)) throw new InvalidArgsError(`ECI ${eci} is a system channel and cannot be deleted`);
      tx.deleteEci(info.id);
    },

    install(tx, cloud, rid, config) {
      const ruleset = typeof rid === 'string' ? deps.rulesets.get(rid) : undefined;
      if (!ruleset) throw new UnknownRulesetError(typeof rid === 'string' ? rid : describe(rid));
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
      tx.stage([put(keys.install(cloud.id, rid), rec)], (c) => {
        c.installs = installs;
      });
    },

    uninstall(tx, cloud, rid) {
      if (deps.builtins.includes(rid)) throw new InvalidArgsError(`${rid} is built in and cannot be uninstalled`);
      if (!tx.installs.some((r) => r.rid === rid)) throw new UnknownRulesetError(rid);
      tx.uninstalled(rid);
      const installs = tx.installs.filter((r) => r.rid !== rid);
      tx.installs = installs;
      const ops: WriteOp[] = [del(keys.install(cloud.id, rid))];
      for (const name of cloud.ent.get(rid)?.keys() ?? []) ops.push(del(keys.entity(cloud.id, rid, name)));
      const prefix = exprKey(rid, '');
      for (const k of cloud.exprState.keys()) if (k.startsWith(prefix)) ops.push(del(keys.exprState(cloud.id, rid, k.slice(prefix.length))));
      // The Tx wipes the ruleset's state from memory when it applies (before any reinstall's writes).
      tx.stage(ops, (c) => {
        c.installs = installs;
      });
    },

    scheduleAt: (tx, cloud, at, event) => deps.scheduler.at(tx, cloud, at, event),
    scheduleRepeat: (tx, cloud, cron, event) => deps.scheduler.repeat(tx, cloud, cron, event),
    cancelSchedule: (tx, cloud, id) => deps.scheduler.cancel(tx, cloud, id),

    push(tx, cloud, eci, name, data) {
      const target = typeof eci === 'string' ? tx.eci(eci) : undefined;
      if (!target) throw new UnknownEciError(typeof eci === 'string' ? eci : describe(eci), `cloud ${cloud.meta.name} has no ECI ${describe(eci)} to push to`);
      if (typeof name !== 'string' || name.length === 0) throw new InvalidArgsError('a push needs a name');
      checkAttrs(data, deps.limits.attrsBytes, 'push data');
      // Whoever listens on the ECI learns only ECIs within its authority.
      const safe = redactEcis(data, stagedView(tx), target);
      tx.release(() => deps.push({ cloudId: cloud.id, eci: target.id, name, data: safe }));
    },

    // The receiving cloud learns only ECIs within the authority of the ECI that caused the send.
    send: (tx, cloud, eci, event, caller) => deps.outbox.stage(tx, cloud, eci, { ...event, attrs: redactEcis(event.attrs, stagedView(tx), caller) }),
  };
}
