/**
 * What runs inside an app's sandbox (a QuickJS engine; see docs/apps.md): the builder an app imports
 * as `kumo`, and the few calls the host makes into the app. Bundled by esbuild into one script
 * (prelude.ts); it sees no kernel, no Node.js and no host object but the two functions below.
 *
 * Values cross the boundary as JSON text, `''` standing for `undefined`: nothing of the host is
 * ever an object inside the sandbox, and nothing of the sandbox is ever an object in the host.
 */
import { ruleset, z } from '../builder.ts';
import { on, or, and, any, before, after, andThen, between, notBetween, count, repeat, within, where } from '../event-expr/authoring.ts';
import type { KumoEvent, Ruleset } from '../../kernel/ruleset.ts';

/** The host's one entry point: an operation of the context of the call under way, with JSON arguments. */
declare function __host(op: string, args: string): string | Promise<string>;
/** Settle the rule run or query under way (its promise inside the sandbox has settled). */
declare function __settle(ok: boolean, value: unknown): void;

const enc = (v: unknown): string => (v === undefined ? '' : JSON.stringify(v));
const dec = (s: string): unknown => (s === '' ? undefined : JSON.parse(s));

/** The operations a rule's context offers; which of them the call may use is the host's to say. */
const SYNC = [
  'now',
  'children',
  'ecis',
  'installed',
  'registered',
  'schedules',
  'directive',
  'raise',
  'last',
  'send',
  'push',
  'scheduleAt',
  'scheduleRepeat',
  'cancelSchedule',
  'newEci',
  'deleteEci',
  'moveTo',
  'install',
  'uninstall',
  'call',
];
const ASYNC = ['newChild', 'deleteChild', 'newDevice', 'newClaimCode'];

/** A context whose every operation is a call of the host; `data` are its plain fields. */
function context(data: Record<string, unknown>): Record<string, unknown> {
  const call =
    (op: string) =>
    (...args: unknown[]): unknown =>
      dec(__host(op, JSON.stringify(args)) as string);
  const callAsync =
    (op: string) =>
    async (...args: unknown[]): Promise<unknown> =>
      dec(await __host(op, JSON.stringify(args)));
  const ctx: Record<string, unknown> = {
    ...data,
    ent: { get: call('ent.get'), has: call('ent.has'), names: call('ent.names'), set: call('ent.set'), delete: call('ent.delete') },
  };
  for (const op of SYNC) ctx[op] = call(op);
  for (const op of ASYNC) ctx[op] = callAsync(op);
  return ctx;
}

/** A read context whose fields are fetched from the host when first read (a `where` rarely needs them). */
function readContext(): Record<string, unknown> {
  const ctx = context({});
  let fields: Record<string, unknown> | undefined;
  const field = (name: string) => () => (fields ??= dec(__host('fields', '[]') as string) as Record<string, unknown>)[name];
  for (const name of ['rid', 'config', 'cloud']) Object.defineProperty(ctx, name, { get: field(name), enumerable: true });
  return ctx;
}

/**
 * Freeze the engine's shared objects once the app has loaded: the built-in constructors and their
 * prototypes, the builder, and the global object. A rule cannot pollute `Object.prototype` (or add
 * a global) for the calls of other clouds that follow in this same engine.
 */
function harden(): void {
  // JavaScript's "override mistake": once a prototype is frozen, `err.name = …` on an instance throws
  // (a frozen inherited data property cannot be shadowed by assignment). The properties code
  // commonly sets on its own objects become accessors that define the property on the instance.
  const errors = Reflect.ownKeys(globalThis).filter((k) => typeof k === 'string' && /Error$/.test(k)) as string[];
  const overridable: Array<[unknown, string[]]> = [
    [Object.prototype, ['constructor', 'toString', 'valueOf', 'toLocaleString', 'hasOwnProperty']],
    [Function.prototype, ['constructor', 'name', 'toString']],
    [Array.prototype, ['constructor', 'toString']],
    [Promise.prototype, ['constructor']],
    ...errors.map((k): [unknown, string[]] => [((globalThis as Record<string, unknown>)[k] as { prototype: unknown }).prototype, ['constructor', 'name', 'message', 'toString']]),
  ];
  for (const [proto, names] of overridable) {
    for (const name of names) {
      const d = Object.getOwnPropertyDescriptor(proto, name);
      if (!d || !('value' in d)) continue;
      const value: unknown = d.value;
      Object.defineProperty(proto, name, {
        get: () => value,
        set(this: object, v: unknown) {
          if (this === proto) throw new TypeError(`${name} of a built-in prototype cannot be changed`);
          Object.defineProperty(this, name, { value: v, writable: true, enumerable: true, configurable: true });
        },
        enumerable: d.enumerable,
        configurable: false,
      });
    }
  }
  const seen = new Set<unknown>();
  const freeze = (v: unknown, depth: number): void => {
    if ((typeof v !== 'object' && typeof v !== 'function') || v === null || seen.has(v)) return;
    seen.add(v);
    Object.freeze(v);
    if (depth === 0) return;
    for (const key of Reflect.ownKeys(v)) {
      const d = Object.getOwnPropertyDescriptor(v, key);
      if (d && 'value' in d) freeze(d.value, depth - 1);
    }
    freeze(Object.getPrototypeOf(v), depth - 1);
  };
  for (const key of Reflect.ownKeys(globalThis)) freeze((globalThis as Record<PropertyKey, unknown>)[key], 3);
  Object.freeze(globalThis);
}

let app: Ruleset | undefined;
const loaded = (): Ruleset => {
  if (!app) throw new Error('no app is loaded');
  return app;
};

function settle(result: unknown): void {
  Promise.resolve(result).then(
    (value) => __settle(true, enc(value)),
    (err: unknown) => __settle(false, err),
  );
}

const sandbox = {
  /** Take the app's module exports; answer its description (what the host builds its ruleset from). */
  load(exports: Record<string, unknown>): string {
    const rs: unknown = exports.default;
    if (typeof rs !== 'object' || rs === null || typeof (rs as Partial<Ruleset>).rid !== 'string' || !Array.isArray((rs as Partial<Ruleset>).rules))
      throw new TypeError('the app must export default a built ruleset: ruleset(rid, {...}).….build()');
    app = rs as Ruleset;
    harden();
    return JSON.stringify({
      rid: app.rid,
      version: app.version,
      meta: app.meta,
      permissions: app.permissions ?? {},
      rules: app.rules.map((r) => ({ name: r.name, events: r.select.events, validates: r.validate !== undefined })),
      functions: Object.keys(app.functions),
      shares: app.shares,
      config: app.validateConfig !== undefined,
      ecis: app.ecis ?? [],
    });
  },
  match(rule: number, state: string, event: string): string {
    return JSON.stringify(loaded().rules[rule]!.select.match(dec(state), JSON.parse(event) as KumoEvent, readContext as never));
  },
  validate(rule: number, attrs: string): string {
    return JSON.stringify(loaded().rules[rule]!.validate!(JSON.parse(attrs) as Record<string, unknown>));
  },
  validateConfig(config: string): string {
    return JSON.stringify(loaded().validateConfig!(JSON.parse(config) as Record<string, unknown>));
  },
  run(rule: number, data: string): void {
    try {
      settle(loaded().rules[rule]!.run(context(JSON.parse(data) as Record<string, unknown>) as never));
    } catch (err) {
      __settle(false, err);
    }
  },
  query(name: string, args: string): void {
    try {
      settle(loaded().functions[name]!(readContext() as never, JSON.parse(args) as Record<string, unknown>));
    } catch (err) {
      __settle(false, err);
    }
  },
};

Object.assign(globalThis, {
  __kumo: { ruleset, z, on, or, and, any, before, after, andThen, between, notBetween, count, repeat, within, where },
  __sandbox: sandbox,
});
