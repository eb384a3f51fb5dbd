import { readdir } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Ruleset } from '../kernel/index.ts';
import { resolveRulesetsIn } from './ruleset-resolver.ts';
import { StartError } from './start-error.ts';

const SOURCE = /\.(ts|mts|js|mjs)$/;
const SKIP = /\.(d\.ts|test\.ts|spec\.ts)$/;

/** Does a module export look like a ruleset (the kernel's contract, checked structurally)? */
export function isRuleset(value: unknown): value is Ruleset {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Partial<Ruleset>;
  return typeof r.rid === 'string' && typeof r.version === 'string' && Array.isArray(r.rules) && Array.isArray(r.shares) && typeof r.functions === 'object';
}

/**
 * Import every TypeScript or JavaScript file directly in `dir` and collect the rulesets it exports
 * (default or named). They are host code, trusted by the operator; `.ts` runs without a build
 * because the host runs under tsx, and `import … from 'kumo'` works wherever `dir` is (see
 * ruleset-resolver.ts). A file that cannot be loaded, or two files exporting the same rid, stop
 * the start with RULESET_FAILED naming the file and the cause.
 */
export async function loadRulesets(dir: string): Promise<Array<{ ruleset: Ruleset; file: string }>> {
  const root = resolve(dir);
  const files = (await readdir(root, { withFileTypes: true }))
    .filter((e) => e.isFile() && SOURCE.test(e.name) && !SKIP.test(e.name))
    .map((e) => join(root, e.name))
    .sort();
  resolveRulesetsIn(pathToFileURL(root + sep).href);
  const found = new Map<string, { ruleset: Ruleset; file: string }>();
  for (const file of files) {
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    } catch (err) {
      throw new StartError('RULESET_FAILED', `cannot load the ruleset file ${file}: ${causeOf(err)}`, { cause: err });
    }
    for (const value of new Set(Object.values(mod))) {
      if (!isRuleset(value)) continue;
      const seen = found.get(value.rid);
      if (seen && seen.ruleset !== value) throw new StartError('RULESET_FAILED', `ruleset ${value.rid} is exported by both ${seen.file} and ${file}`);
      found.set(value.rid, { ruleset: value, file });
    }
  }
  return [...found.values()];
}

/** What went wrong loading a file, in one line: a syntax error and its place, or the error. */
function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // esbuild's (through tsx): "Transform failed with 1 error:\n<file>:<line>:<column>: ERROR: <text>",
  // its column counted from 0.
  const syntax = /:(\d+):(\d+): ERROR: (.*)/.exec(err.message);
  if (syntax) return `${syntax[3]} (line ${syntax[1]}, column ${Number(syntax[2]) + 1})`;
  return `${err.name === 'Error' ? '' : `${err.name}: `}${err.message.split('\n')[0]}`;
}
