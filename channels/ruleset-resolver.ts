import { register } from 'node:module';

/**
 * Rulesets written anywhere on disk: a folder holding `hello.ts` that does
 * `import { ruleset, z } from 'kumo'` needs no package.json and no install of its own. A module
 * resolution hook sends `kumo` (and `kumo/…`) to the very package this host runs, through its
 * `exports`, so a ruleset and its host share one copy of the builder, `z` and the error classes;
 * and the files of a rulesets folder are ES modules (tsx would treat a `.ts` file with no
 * package.json above it as CommonJS, which no hook can redirect).
 */

/** This package's root: its package.json is what `kumo` resolves against (a self-reference). */
const PACKAGE_JSON = new URL('../package.json', import.meta.url).href;

// The hook runs on Node's loader thread, so it is plain JavaScript in a data: URL. One instance
// per rulesets folder; each sends `kumo` to this package.
const HOOK = `
let pkg, folder;
export async function initialize(data) { ({ pkg, folder } = data); }
export async function resolve(specifier, context, next) {
  if (specifier === 'kumo' || specifier.startsWith('kumo/')) return next(specifier, { ...context, parentURL: pkg });
  const resolved = await next(specifier, context);
  // The folder's own files, not packages installed under it (they say what they are).
  const path = new URL(resolved.url).pathname;
  const inFolder = resolved.url.startsWith(folder) && !path.includes('/node_modules/') && /\\.(ts|mts|js|mjs)$/.test(path);
  return inFolder ? { ...resolved, format: 'module' } : resolved;
}
`;

const folders = new Set<string>();

/**
 * Make `import … from 'kumo'` work for the rulesets in `folder` (a file: URL ending in "/"), and
 * load its files as ES modules. Once per folder and process.
 */
export function resolveRulesetsIn(folder: string): void {
  if (folders.has(folder)) return;
  register(`data:text/javascript,${encodeURIComponent(HOOK)}`, { data: { pkg: PACKAGE_JSON, folder } });
  folders.add(folder);
}
