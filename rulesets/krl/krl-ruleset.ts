import { parse, position, type K } from './parse.ts';
import { InvalidAppError, type Ruleset, type SharedFunction } from '../../kernel/index.ts';
import { KrlCompileError, Needs, expr, type Cx } from './compile-expr.ts';
import { compileRule } from './compile-rule.ts';
import { USABLE_MODULES } from './modules.ts';
import { DEFAULT_KRL_LIMITS, Env, KRL_RULESETS, Run, invoke, type Global, type KrlLimits, type RulesetInfo } from './runtime.ts';
import { KrlCallable, chain, toPlain } from './values.ts';

/**
 * A KRL ruleset's source to the kernel's ruleset (docs/krl.md): parsed (parse.ts), then each node
 * compiled once; what kumo cannot run is INVALID_APP naming the line and column.
 */

const metaOf = (ast: K.Ruleset, key: string): unknown[] => (ast.meta?.properties ?? []).filter((p) => p.key.value === key).map((p) => p.value as unknown);

/** Compile a KRL ruleset's source into the kernel's ruleset. */
export function compileKrl(source: string, limits: KrlLimits = DEFAULT_KRL_LIMITS): Ruleset {
  const ast = parse(source);
  try {
    return assemble(ast, limits);
  } catch (err) {
    if (err instanceof KrlCompileError) {
      const at = position(source, err.at);
      throw new InvalidAppError(`KRL at line ${at.line}, column ${at.column}: ${err.message}`, at);
    }
    throw err;
  }
}

function literal(node: unknown): string | undefined {
  const n = node as K.Expression | null;
  return n && n.type === 'String' ? n.value : undefined;
}

function assemble(ast: K.Ruleset, limits: KrlLimits): Ruleset {
  const rid = ast.rid.value;
  const cx: Cx = { rid, modules: new Map(), uses: new Map(), needs: new Needs() };
  for (const use of metaOf(ast, 'use') as Array<{ rid: K.RulesetID; alias: K.Identifier | null; with: K.Declaration[] | null }>) {
    const alias = use.alias?.value ?? use.rid.value;
    if (cx.modules.has(alias) || cx.uses.has(alias)) throw new KrlCompileError(`two modules are used as ${alias}`, use.rid.loc.start);
    const builtin = USABLE_MODULES[use.rid.value];
    if (builtin) {
      if (use.with?.length) throw new KrlCompileError(`${use.rid.value} takes no configuration`, use.rid.loc.start);
      cx.modules.set(alias, builtin);
      continue;
    }
    if (use.rid.value === rid) throw new KrlCompileError(`${rid} cannot use itself as a module`, use.rid.loc.start);
    cx.uses.set(alias, { rid: use.rid.value, alias, with: (use.with ?? []).map((d) => [d.left.value, expr(d.right, cx)] as const) });
    cx.needs.add({ calls: [use.rid.value] });
  }
  for (const key of ['keys', 'errors'] as const) {
    const first = (ast.meta?.properties ?? []).find((p) => p.key.value === key);
    if (first) throw new KrlCompileError(`meta ${key} is not supported: ${key === 'keys' ? 'keep secrets in the config given at install' : 'errors raise system:error in the cloud'}`, first.key.loc.start);
  }
  const provided: K.Identifier[] = [];
  for (const p of metaOf(ast, 'provides') as Array<{ ids: K.Identifier[]; operator?: K.Keyword }>) {
    if (p.operator) throw new KrlCompileError('provides keys is not supported: keep secrets in the config given at install', p.operator.loc.start);
    provided.push(...p.ids);
  }
  const globals = new Map<string, Global>();
  const configurable = new Set<string>();
  for (const c of metaOf(ast, 'configure') as Array<{ declarations: K.Declaration[] }>) {
    for (const d of c.declarations) {
      configurable.add(d.left.value);
      globals.set(d.left.value, expr(d.right, cx));
    }
  }
  for (const d of ast.global) {
    if (globals.has(d.left.value)) throw new KrlCompileError(`global ${d.left.value} is declared twice`, d.left.loc.start);
    globals.set(d.left.value, expr(d.right, cx));
  }
  const name = literal(metaOf(ast, 'name')[0]);
  for (const p of provided) if (!globals.has(p.value)) throw new KrlCompileError(`provides ${p.value}, which is not a global`, p.loc.start);
  const info: RulesetInfo = { rid, name, globals, configurable, provides: new Set(provided.map((p) => p.value)), limits };
  const shares = (metaOf(ast, 'shares') as Array<{ ids: K.Identifier[] }>).flatMap((s) => s.ids);
  for (const s of shares) if (!globals.has(s.value)) throw new KrlCompileError(`shares ${s.value}, which is not a global`, s.loc.start);
  const functions: Record<string, SharedFunction> = Object.fromEntries(ast.global.filter((d) => d.right.type === 'Function' || shares.some((s) => s.value === d.left.value)).map((d) => [d.left.value, sharedFunction(info, d.left.value)]));
  const rules = [];
  const ruleNames = new Set<string>();
  for (const r of ast.rules) {
    if (ruleNames.has(r.name.value)) throw new KrlCompileError(`rule ${r.name.value} is declared twice`, r.name.loc.start);
    ruleNames.add(r.name.value);
    const rule = compileRule(r, cx, info, functions);
    if (rule) rules.push(rule);
  }
  const description = literal(metaOf(ast, 'description')[0]);
  const ruleset: Ruleset = {
    rid,
    version: literal(metaOf(ast, 'version')[0]) ?? '0.0.0',
    meta: { ...(name ? { name } : {}), ...(description ? { description } : {}) },
    rules,
    functions,
    shares: [...new Set(shares.map((s) => s.value))],
    permissions: cx.needs.permissions(),
    ...(cx.uses.size ? { uses: [...new Set([...cx.uses.values()].map((u) => u.rid))] } : {}),
  };
  KRL_RULESETS.set(ruleset, info);
  return ruleset;
}

/** A global as a query answers it: a function called with the query's arguments by name, or its value. */
function sharedFunction(info: RulesetInfo, name: string): SharedFunction {
  return (ctx, args) => {
    const run = new Run(info, ctx, undefined, undefined, undefined);
    const v = new Env(run, undefined).get(name);
    if (!(v instanceof KrlCallable)) return toPlain(v);
    const named = new Map(Object.entries(args).filter(([k]) => v.params.includes(k)));
    const out = invoke(run, v, [], named);
    return chain(out, toPlain);
  };
}
