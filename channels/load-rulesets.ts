import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Ruleset } from '../kernel/index.ts';

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
 * because the host runs under tsx. Two files exporting the same rid is an error, not a silent pick.
 */
export async function loadRulesets(dir: string): Promise<Array<{ ruleset: Ruleset; file: string }>> {
  const root = resolve(dir);
  const files = (await readdir(root, { withFileTypes: true }))
    .filter((e) => e.isFile() && SOURCE.test(e.name) && !SKIP.test(e.name))
    .map((e) => join(root, e.name))
    .sort();
  const found = new Map<string, { ruleset: Ruleset; file: string }>();
  for (const file of files) {
    const mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const value of new Set(Object.values(mod))) {
      if (!isRuleset(value)) continue;
      const seen = found.get(value.rid);
      if (seen && seen.ruleset !== value) throw new Error(`ruleset ${value.rid} is exported by both ${seen.file} and ${file}`);
      found.set(value.rid, { ruleset: value, file });
    }
  }
  return [...found.values()];
}
