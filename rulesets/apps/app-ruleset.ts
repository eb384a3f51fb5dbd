import { InvalidAppError, InvalidArgsError, isPlainObject, parsePermissions, type HttpRequest, type ReadContext, type Rule, type RuleContext, type Ruleset, type SelectorResult, type Validation } from '../../kernel/index.ts';
import { z } from '../builder.ts';
import { eachEffect } from './effects.ts';
import type { Operations, Sandbox } from './sandbox.ts';

/**
 * The kernel's ruleset for an app in a sandbox: every rule, selector, schema and function is a call
 * into the sandbox, and every operation of the context the app calls back is one of the tables
 * below, run on the kernel's own context (which checks the app's grant). See docs/apps.md.
 */

/** What the sandbox says the app is (sandbox-entry.ts `load`); read as untrusted. */
const Description = z.object({
  rid: z.string(),
  version: z.string().max(100),
  meta: z.object({ name: z.string().max(200).optional(), description: z.string().max(2000).optional() }),
  permissions: z.unknown(),
  rules: z.array(z.object({ name: z.string().min(1).max(100), events: z.array(z.object({ domain: z.string(), type: z.string() })).max(100), always: z.boolean(), validates: z.boolean() })).max(1000),
  functions: z.array(z.string()).max(1000),
  shares: z.array(z.string()).max(1000),
  config: z.boolean(),
  ecis: z.array(z.object({ tags: z.array(z.string()), eventPolicy: z.unknown(), queryPolicy: z.unknown() })).max(10),
});

const str = (v: unknown, what: string): string => {
  if (typeof v !== 'string') throw new InvalidArgsError(`${what} must be a string`);
  return v;
};
const obj = (v: unknown, what: string): Record<string, unknown> | undefined => {
  if (v === null || v === undefined) return undefined;
  if (!isPlainObject(v)) throw new InvalidArgsError(`${what} must be an object`);
  return v;
};
/** JSON has no `undefined`: an argument left out arrives as null. */
const opt = (v: unknown): unknown => (v === null ? undefined : v);

type Op<C> = (c: C, a: unknown[]) => unknown;

/** What a query or a `where` may do: read the cloud as the app sees it. */
const READ: Readonly<Record<string, Op<ReadContext>>> = {
  fields: (c) => ({ config: c.config, cloud: c.cloud }),
  now: (c) => c.now(),
  'ent.get': (c, [n]) => c.ent.get(str(n, 'an entity name')),
  'ent.has': (c, [n]) => c.ent.has(str(n, 'an entity name')),
  'ent.names': (c) => c.ent.names(),
  children: (c) => c.children(),
  ecis: (c) => c.ecis(),
  installed: (c) => c.installed(),
  registered: (c) => c.registered(),
  schedules: (c) => c.schedules(),
};

/** The effects an app queues and hands over together (effects.ts): they answer nothing. */
const QUEUED: Readonly<Record<string, Op<RuleContext>>> = {
  'ent.set': (c, [n, v]) => c.ent.set(str(n, 'an entity name'), v),
  'ent.delete': (c, [n]) => c.ent.delete(str(n, 'an entity name')),
  directive: (c, [n, o]) => c.directive(str(n, 'a directive name'), obj(o, 'directive options')),
  raise: (c, [d, t, a]) => c.raise(str(d, 'a domain'), str(t, 'a type'), obj(a, 'attrs')),
  last: (c) => c.last(),
};

/** What a rule may do: read, and stage every effect of the kernel's rule context. */
const RULE: Readonly<Record<string, Op<RuleContext>>> = {
  ...(READ as Record<string, Op<RuleContext>>),
  ...QUEUED,
  fields: (c) => ({ config: c.config, event: c.event, ...(c.attrs === c.event.attrs ? {} : { attrs: c.attrs }), eci: c.eci, captures: c.captures, hostUrl: c.hostUrl, cloud: c.cloud }),
  effects: (c, list) => eachEffect(list, (op, args) => QUEUED[op]!(c, args)),
  send: (c, [e, d, t, a, h]) => c.send(str(e, 'an ECI'), str(d, 'a domain'), str(t, 'a type'), obj(a, 'attrs'), opt(h) as string | undefined),
  push: (c, [e, n, data]) => c.push(str(e, 'an ECI'), str(n, 'a push name'), obj(data, 'push data')),
  scheduleAt: (c, [at, d, t, a]) => c.scheduleAt(at as number, str(d, 'a domain'), str(t, 'a type'), obj(a, 'attrs')),
  scheduleRepeat: (c, [cron, d, t, a]) => c.scheduleRepeat(cron as string, str(d, 'a domain'), str(t, 'a type'), obj(a, 'attrs')),
  cancelSchedule: (c, [id]) => c.cancelSchedule(str(id, 'a schedule id')),
  newEci: (c, [o]) => c.newEci(obj(o, 'ECI options') ?? {}),
  deleteEci: (c, [e]) => c.deleteEci(str(e, 'an ECI')),
  moveTo: (c, [to]) => c.moveTo(str(to, 'a host id')),
  install: (c, [rid, config]) => c.install(str(rid, 'a rid'), obj(config, 'config')),
  uninstall: (c, [rid]) => c.uninstall(str(rid, 'a rid')),
  newChild: (c, [n, o]) => c.newChild(str(n, 'a child name'), obj(o, 'child options')),
  deleteChild: (c, [w]) => c.deleteChild(typeof w === 'string' ? w : (obj(w, 'which child') ?? {})),
  newDevice: (c, [n, o]) => c.newDevice(str(n, 'a device name'), obj(o, 'device options')),
  newClaimCode: (c, [e, o]) => c.newClaimCode(str(e, 'an ECI'), obj(o, 'claim code options')),
  call: (c, [rid, name, args]) => c.call(str(rid, 'a rid'), str(name, 'a function name'), obj(args, 'args')),
  http: (c, [request]) => c.http(request as HttpRequest),
};

/** The operations of `table` on the context `ctx` gives (built only when the app calls one). */
function lend<C>(table: Readonly<Record<string, Op<C>>>, ctx: () => C): Operations {
  return (op, args) => {
    const f = Object.hasOwn(table, op) ? table[op] : undefined;
    if (!f) throw new TypeError(`ctx.${op} is not available here`);
    return f(ctx(), args);
  };
}

/** Entity state small enough to hand in with a rule run (names, and bytes as JSON). */
const SNAPSHOT_NAMES = 32;
const SNAPSHOT_BYTES = 16 * 1024;

/**
 * The app's entity state in the run's cloud, as the episode sees it, for the sandbox to read without
 * a call per read: `[[name, value], …]` as JSON, or `null` when it is larger than is worth handing in.
 */
function entities(ctx: RuleContext): string {
  const names = ctx.ent.names();
  if (names.length > SNAPSHOT_NAMES) return 'null';
  const text = JSON.stringify(names.map((n) => [n, ctx.ent.get(n)]));
  return text.length > SNAPSHOT_BYTES ? 'null' : text;
}

const enc = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v));

/** The kernel's ruleset for the app loaded in `sandbox`, from the description it gave. */
export function appRuleset(sandbox: Sandbox, description: string, callMs: number): Ruleset {
  const parsed = Description.safeParse(JSON.parse(description));
  if (!parsed.success) throw new InvalidAppError(`the app's ruleset is not well formed: ${parsed.error.issues[0]?.message ?? ''}`);
  const d = parsed.data;
  let permissions;
  try {
    permissions = parsePermissions(d.permissions, d.ecis.length > 0);
  } catch (err) {
    throw new InvalidAppError(`${d.rid}: ${(err as Error).message}`);
  }
  const unknownShare = d.shares.find((s) => !d.functions.includes(s));
  if (unknownShare !== undefined) throw new InvalidAppError(`${d.rid} shares ${unknownShare}, which it does not define`);
  const rules: Rule[] = d.rules.map((r, i) => ({
    name: r.name,
    select: {
      events: r.events,
      ...(r.always ? { always: true } : {}),
      match: (state, event, read) => JSON.parse(sandbox.callSync('match', [i, enc(state), JSON.stringify(event)], lend(READ, read ?? noRead), callMs)) as SelectorResult,
    },
    ...(r.validates ? { validate: (attrs: Record<string, unknown>) => JSON.parse(sandbox.callSync('validate', [i, JSON.stringify(attrs)], nothing, callMs)) as Validation } : {}),
    run: (ctx) => {
      // The run's view (event, attrs, config, …) is read from the host when the app asks for it (`fields`).
      const out = sandbox.run(
        `[${i},${entities(ctx)}]`,
        lend(RULE, () => ctx),
        callMs,
      );
      return out instanceof Promise ? out.then((fired) => fired !== false) : out !== false;
    },
  }));
  const functions: Ruleset['functions'] = Object.fromEntries(
    d.functions.map((name) => [
      name,
      (ctx: ReadContext, args: Record<string, unknown>) =>
        sandbox.query(
          JSON.stringify([name, args]),
          lend(READ, () => ctx),
          callMs,
        ),
    ]),
  );
  return {
    rid: d.rid,
    version: d.version,
    meta: d.meta,
    rules,
    functions,
    shares: d.shares,
    permissions,
    ...(d.config ? { validateConfig: (config: Record<string, unknown>) => JSON.parse(sandbox.callSync('validateConfig', [JSON.stringify(config)], nothing, callMs)) as Validation } : {}),
    ...(d.ecis.length > 0 ? { ecis: d.ecis as Ruleset['ecis'] } : {}),
  };
}

const nothing: Operations = (op) => {
  throw new TypeError(`ctx.${op} is not available here`);
};
const noRead = (): ReadContext => {
  throw new TypeError('this selector has no cloud to read');
};
