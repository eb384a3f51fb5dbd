import type { K } from './parse.ts';
import type { AppPermissions } from '../../kernel/index.ts';
import { MODULES, type Member } from './modules.ts';
import { Env, KrlError, invoke, type ModuleUse } from './runtime.ts';
import { INFIX, OPERATORS, getPath, regex } from './stdlib.ts';
import { KrlCallable, all, inOrder, isMap, isNull, isPromise, chain, toNumberOrNull, toStr, truthy } from './values.ts';

/**
 * KRL expressions compiled to closures (docs/krl.md, "How it runs"): each node once, at install,
 * into a function of a scope. Nothing is evaluated as JavaScript source. A value may be a promise
 * only where KRL waited on the host (an HTTP request, a call); every node passes such a value on.
 */
export type Ev = (env: Env) => unknown;

/** What compiling a ruleset learns and looks up: its `use module` aliases, what it needs of its grant. */
export interface Cx {
  rid: string;
  /** Built-in modules by the name a rule writes before the colon (`use module … alias`). */
  modules: Map<string, Readonly<Record<string, Member>>>;
  /** Rulesets used as modules, by their alias. */
  uses: Map<string, ModuleUse>;
  needs: Needs;
}

/** What a ruleset's members use of an app's grant, collected as it compiles. */
export class Needs {
  readonly flags = new Set<'send' | 'channels' | 'children' | 'manage'>();
  readonly calls = new Set<string>();
  readonly http = new Set<string>();

  add(needs: AppPermissions | undefined, url?: K.Expression): void {
    if (!needs) return;
    for (const f of ['send', 'channels', 'children', 'manage'] as const) if (needs[f]) this.flags.add(f);
    for (const rid of needs.calls ?? []) this.calls.add(rid);
    if (needs.http) {
      const host = url && literalHost(url);
      if (host) this.http.add(host);
    }
  }

  permissions(): AppPermissions {
    return {
      ...Object.fromEntries([...this.flags].map((f) => [f, true])),
      ...(this.calls.size ? { calls: [...this.calls] } : {}),
      ...(this.http.size ? { http: [...this.http] } : {}),
    };
  }
}

/** The host of a URL written as a literal, or as a chevron string whose literal start holds the whole host. */
function literalHost(node: K.Expression): string | undefined {
  if (node.type === 'String') return /^https?:\/\/([^/:?#]+)(?=[/:?#]|$)/i.exec(node.value)?.[1]?.toLowerCase();
  const start = node.type === 'Chevron' ? node.value[0] : undefined;
  return start?.type === 'String' ? /^https?:\/\/([^/:?#]+)(?=[/:?#])/i.exec(start.value)?.[1]?.toLowerCase() : undefined;
}

/** A KRL failure pointing at the source (line and column are added by the ruleset's compiler). */
export class KrlCompileError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

const UNARY: Readonly<Record<string, (v: unknown) => unknown>> = {
  not: (v) => !truthy(v),
  '-': (v) => {
    const x = toNumberOrNull(v);
    if (x === null) throw new KrlError(`cannot negate ${toStr(v)}`);
    return -x;
  },
  '+': (v) => toNumberOrNull(v),
};

const constant =
  (v: unknown): Ev =>
  () =>
    v;

type Compiler<N> = (node: N, cx: Cx) => Ev;

const EXPRESSIONS: { [T in K.Expression['type']]: Compiler<Extract<K.Expression, { type: T }>> } = {
  Number: (n) => constant(n.value),
  Boolean: (n) => constant(n.value),
  Null: () => constant(null),
  String: (n) => constant(n.value),
  RegExp: (n) => constant(linear(n)),
  Chevron: (n, cx) => {
    const parts = n.value.map((p) => expr(p, cx));
    return (env) => {
      const vs = all(parts.map((p) => p(env)));
      return chain(vs, (xs) => {
        const s = xs.map(toStr).join('');
        env.run.sized(s.length);
        return s;
      });
    };
  },
  Identifier: (n) => {
    const name = n.value;
    return (env) => env.get(name);
  },
  DomainIdentifier: (n, cx) => domainValue(n, cx),
  InfixOperator: (n, cx) => infix(n, cx),
  UnaryOperator: (n, cx) => {
    const arg = expr(n.arg, cx);
    const f = Object.hasOwn(UNARY, n.op) ? UNARY[n.op] : undefined;
    if (!f) throw new KrlCompileError(`unknown operator ${n.op}`, n.loc.start);
    return (env) => chain(arg(env), f);
  },
  ConditionalExpression: (n, cx) => {
    const test = expr(n.test, cx);
    const yes = expr(n.consequent, cx);
    const no = expr(n.alternate, cx);
    return (env) => chain(test(env), (t) => (truthy(t) ? yes(env) : no(env)));
  },
  MemberExpression: (n, cx) => member(n, cx),
  Function: (n, cx) => fn(n, cx, 'Function'),
  DefAction: (n, cx) => {
    // Compiled by the rule compiler, which knows actions; see compile-rule.ts.
    if (!defaction) throw new KrlCompileError('defaction is not available here', n.loc.start);
    return defaction(n, cx);
  },
  Application: (n, cx) => application(n, cx),
  Array: (n, cx) => {
    const items = n.value.map((v) => expr(v, cx));
    return (env) => all(items.map((i) => i(env)));
  },
  Map: (n, cx) => {
    const keys = n.value.map((kv) => kv.key.value);
    const values = n.value.map((kv) => expr(kv.value, cx));
    // fromEntries, not assignment: a key "__proto__" is a key like any other, not the map's prototype.
    return (env) => chain(all(values.map((v) => v(env))), (vs) => Object.fromEntries(keys.map((k, i) => [k, vs[i]])));
  },
};

/** A regular expression the source writes, as KRL runs it (linear time); one RE2 cannot run is refused where it is written. */
export function linear(n: K.KrlRegExp): RegExp {
  try {
    return regex(n.value);
  } catch (err) {
    throw new KrlCompileError((err as Error).message, n.loc.start);
  }
}

/** Set by compile-rule.ts: a defaction is an action, and actions are the rule compiler's. */
let defaction: Compiler<K.DefAction> | undefined;
export function setDefaction(c: Compiler<K.DefAction>): void {
  defaction = c;
}

/** Compile one expression. */
export function expr(node: K.Expression, cx: Cx): Ev {
  const compile = EXPRESSIONS[node.type] as Compiler<K.Expression> | undefined;
  if (!compile) throw new KrlCompileError(`unexpected ${(node as { type: string }).type}`, node.loc.start);
  return compile(node, cx);
}

function infix(n: K.InfixOperator, cx: Cx): Ev {
  const l = expr(n.left, cx);
  const r = expr(n.right, cx);
  if (n.op === '&&') return (env) => chain(l(env), (a) => (truthy(a) ? r(env) : a));
  if (n.op === '||') return (env) => chain(l(env), (a) => (truthy(a) ? a : r(env)));
  const f = INFIX[n.op];
  if (!f) throw new KrlCompileError(`unknown operator ${n.op}`, n.loc.start);
  return (env) => {
    const a = l(env);
    const b = r(env);
    if (isPromise(a) || isPromise(b)) return Promise.all([a, b]).then(([x, y]) => f(env.run, x, y));
    return f(env.run, a, b);
  };
}

function member(n: K.MemberExpression, cx: Cx): Ev {
  if (n.method === 'dot') {
    const name = n.property.type === 'Identifier' ? n.property.value : '…';
    throw new KrlCompileError(`.${name} needs its arguments: write .${name}()`, n.property.loc.start);
  }
  const obj = expr(n.object, cx);
  const key = expr(n.property, cx);
  const read =
    n.method === 'path'
      ? getPath
      : (o: unknown, k: unknown): unknown => {
          if (Array.isArray(o)) return o[toNumberOrNull(k) ?? -1] ?? null;
          if (isMap(o)) return Object.hasOwn(o, toStr(k)) ? o[toStr(k)] : null;
          return null;
        };
  return (env) => chain(all([obj(env), key(env)]), (v) => read(v[0], v[1]));
}

/** Resolve a module member, at compile time. */
export function moduleMember(n: K.DomainIdentifier, cx: Cx): Member {
  const mod = cx.modules.get(n.domain) ?? MODULES[n.domain];
  if (!mod) throw new KrlCompileError(n.domain === 'app' ? 'app: variables (shared by every pico of a ruleset) are not supported: clouds share no state; use ent:' : `unknown module ${n.domain}`, n.loc.start);
  const m = Object.hasOwn(mod, n.value) ? mod[n.value] : undefined;
  if (!m) throw new KrlCompileError(`${n.domain}:${n.value} is not defined`, n.loc.start);
  return m;
}

function domainValue(n: K.DomainIdentifier, cx: Cx): Ev {
  if (n.domain === 'ent') {
    const name = n.value;
    return (env) => env.run.read.ent.get(name) ?? null;
  }
  const use = cx.uses.get(n.domain);
  if (use) {
    const name = n.value;
    return (env) => env.run.moduleValue(use, name, env);
  }
  const m = moduleMember(n, cx);
  cx.needs.add(m.needs);
  if (m.kind === 'Property') return (env) => m.fn(env.run, []);
  if (m.kind === 'Action') throw new KrlCompileError(`${n.domain}:${n.value} is an action: use it in an action block`, n.loc.start);
  const name = `${n.domain}:${n.value}`;
  return (env) => new KrlCallable('Function', name, m.params, (args, named) => m.fn(env.run, positional(m.params, args, named)));
}

/** Arguments in parameter order: the positional ones, then each named one at its parameter's place. */
export function positional(params: readonly string[], args: readonly unknown[], named: ReadonlyMap<string, unknown> | undefined): unknown[] {
  const out = [...args];
  if (named) {
    for (const [k, v] of named) {
      const i = params.indexOf(k);
      if (i < 0) throw new KrlError(`no parameter named ${k} (${params.join(', ') || 'none'})`);
      while (out.length < i) out.push(null);
      out[i] = v;
    }
  }
  return out;
}

/** Compiled arguments: positional, and named ones by name. */
export interface Args {
  positional: Ev[];
  named: Array<[string, Ev]>;
}

export function args(a: K.Arguments, cx: Cx): Args {
  const out: Args = { positional: [], named: [] };
  for (const arg of a.args) {
    if (arg.type === 'NamedArgument') out.named.push([arg.id.value, expr(arg.value, cx)]);
    else if (out.named.length > 0) throw new KrlCompileError('positional arguments come before named ones', arg.loc.start);
    else out.positional.push(expr(arg, cx));
  }
  return out;
}

/** Evaluate arguments; then call `f` with them (a promise when any waited). */
export function withArgs(env: Env, a: Args, f: (args: unknown[], named: Map<string, unknown> | undefined) => unknown): unknown {
  const vs = a.positional.map((p) => p(env));
  const ns = a.named.map(([, e]) => e(env));
  return chain(all([...vs, ...ns]), (xs) => {
    const values = xs;
    const named = a.named.length === 0 ? undefined : new Map(a.named.map(([k], i) => [k, values[vs.length + i]]));
    return f(values.slice(0, vs.length), named);
  });
}

/** Call a module member with compiled arguments. */
export function callMember(m: Member, a: Args): Ev {
  return (env) => withArgs(env, a, (xs, named) => m.fn(env.run, positional(m.params, xs, named)));
}

function application(n: K.Application, cx: Cx): Ev {
  const a = args(n.args, cx);
  const callee = n.callee;
  if (callee.type === 'MemberExpression' && callee.method === 'dot') {
    if (callee.property.type !== 'Identifier') throw new KrlCompileError('expected an operator name after the dot', callee.property.loc.start);
    const name = callee.property.value;
    const obj = expr(callee.object, cx);
    const op = Object.hasOwn(OPERATORS, name) ? OPERATORS[name] : undefined;
    if (op) {
      return (env) =>
        chain(obj(env), (v) =>
          withArgs(env, a, (xs, named) => {
            env.run.charge();
            return op.fn(env.run, v, named ? positional(op.params, xs, named) : xs);
          }),
        );
    }
    const infixOp = Object.hasOwn(INFIX, name) ? INFIX[name] : undefined;
    if (infixOp) return (env) => chain(obj(env), (v) => withArgs(env, a, (xs) => infixOp(env.run, v, xs[0])));
    // `x.f(y)` with a function of the ruleset's own is `f(x, y)`.
    return (env) => chain(obj(env), (v) => withArgs(env, a, (xs, named) => invoke(env.run, env.get(name), [v, ...xs], named)));
  }
  if (callee.type === 'DomainIdentifier' && callee.domain !== 'ent') {
    const use = cx.uses.get(callee.domain);
    if (use) return (env) => withArgs(env, a, (xs, named) => invoke(env.run, env.run.moduleValue(use, callee.value, env), xs, named));
    const m = moduleMember(callee, cx);
    if (m.kind === 'Property') throw new KrlCompileError(`${callee.domain}:${callee.value} is not a function`, callee.loc.start);
    if (m.kind === 'Action') throw new KrlCompileError(`${callee.domain}:${callee.value} is an action: use it in an action block`, callee.loc.start);
    cx.needs.add(m.needs, urlArg(n.args, m));
    return callMember(m, a);
  }
  const f = expr(callee, cx);
  return (env) => chain(f(env), (fv) => withArgs(env, a, (xs, named) => invoke(env.run, fv, xs, named)));
}

/** The node of a call's `url` argument, if it has one (for the hosts an app asks to reach). */
export function urlArg(a: K.Arguments, m: Member): K.Expression | undefined {
  if (m.params[0] !== 'url') return undefined;
  const named = a.args.find((x): x is K.NamedArgument => x.type === 'NamedArgument' && x.id.value === 'url');
  const first = a.args[0];
  return named ? named.value : first && first.type !== 'NamedArgument' ? first : undefined;
}

/** Declarations in order, each seeing those before it. */
export function declarations(decls: readonly K.Declaration[], cx: Cx): (env: Env) => void | Promise<void> {
  const list = decls.map((d) => [d.left.value, expr(d.right, cx)] as const);
  return list.length === 0 ? () => undefined : (env) => inOrder(list, ([name, e]) => chain(e(env), (v) => env.set(name, v)));
}

/** Bind a callable's parameters in `scope`: given, named, or their defaults (which see the parameters before them). */
export function params(ps: K.Parameters, cx: Cx): { names: string[]; bind: (scope: Env, args: readonly unknown[], named: ReadonlyMap<string, unknown> | undefined) => void } {
  const names = ps.params.map((p) => p.id.value);
  const defaults = ps.params.map((p) => (p.default ? expr(p.default, cx) : undefined));
  return {
    names,
    bind: (scope, xs, named) => {
      if (named) for (const k of named.keys()) if (!names.includes(k)) throw new KrlError(`no parameter named ${k} (${names.join(', ') || 'none'})`);
      names.forEach((name, i) => {
        let v = i < xs.length ? xs[i] : named?.get(name);
        if (v === undefined) {
          const d = defaults[i];
          v = d ? d(scope) : null;
          if (isPromise(v)) throw new KrlError(`the default of ${name} waits on the host; defaults are computed without waiting`);
        }
        scope.set(name, isNull(v) ? null : v);
      });
    },
  };
}

function fn(n: K.Function, cx: Cx, kind: 'Function'): Ev {
  const ps = params(n.params, cx);
  const body = declarations(n.body, cx);
  const ret = expr(n.return, cx);
  return (env) =>
    new KrlCallable(kind, 'function', ps.names, (xs, named) => {
      const scope = env.child();
      ps.bind(scope, xs, named);
      const pending = body(scope);
      return pending ? pending.then(() => ret(scope)) : ret(scope);
    });
}
