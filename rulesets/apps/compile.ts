import { build, type BuildFailure, type BuildOptions, type Plugin } from 'esbuild';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidAppError } from '../../kernel/index.ts';

/**
 * Source to the code a sandbox runs, with esbuild: the prelude (sandbox-entry.ts with the builder,
 * the event expressions and zod, bundled once per process) and each app (one ES module in
 * TypeScript or JavaScript, transpiled to CommonJS; it may import `kumo` and nothing else).
 */

// Beside this file: .ts under tsx, .js in a compiled build (npm run build, the benchmarks).
const ENTRY = ['./sandbox-entry.ts', './sandbox-entry.js'].map((name) => fileURLToPath(new URL(name, import.meta.url))).find((path) => existsSync(path))!;
// QuickJS runs ES2023; esbuild lowers nothing an app is likely to write.
const TARGET = 'es2022';

/** What every sandbox runs besides its app: the prelude, first, and zod, when the app first reads `z`. */
export interface Prelude {
  prelude: string;
  /** An expression: zod's namespace. */
  zod: string;
}

let prelude: Promise<Prelude> | undefined;

/** The prelude and zod, bundled on first use and kept. */
export function preludeCode(): Promise<Prelude> {
  const bundle = async (options: BuildOptions): Promise<string> => (await build({ bundle: true, format: 'iife', platform: 'neutral', target: TARGET, minify: true, write: false, logLevel: 'silent', ...options })).outputFiles![0]!.text;
  prelude ??= Promise.all([bundle({ entryPoints: [ENTRY] }), bundle({ stdin: { contents: "export { z } from 'zod';", resolveDir: dirname(ENTRY) }, globalName: '__kumoZod' })]).then(([code, zod]) => ({
    prelude: code,
    // zod keeps its config and registry on `globalThis`: it is given an object of its own, as an
    // engine's global object is frozen once its app has loaded. Its exports are copied out of the
    // bundle's getters, to be frozen.
    zod: `((globalThis) => {${zod}\nreturn Object.assign({}, __kumoZod.z);})({})`,
  }));
  return prelude;
}

/** Only `kumo` may be imported: no file, package or Node.js module reaches an app. */
const onlyKumo: Plugin = {
  name: 'only-kumo',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) => (args.kind === 'entry-point' ? undefined : args.path === 'kumo' ? { path: 'kumo', external: true } : { errors: [{ text: `an app may import only "kumo", not "${args.path}"` }] }));
  },
};

/** An app's source as CommonJS for the sandbox; INVALID_APP with the line and column of what is wrong. */
export async function compileApp(source: string): Promise<string> {
  try {
    const out = await build({
      stdin: { contents: source, loader: 'ts', sourcefile: 'app.ts' },
      bundle: true,
      format: 'cjs',
      platform: 'neutral',
      target: TARGET,
      write: false,
      logLevel: 'silent',
      plugins: [onlyKumo],
    });
    return out.outputFiles[0]!.text;
  } catch (err) {
    const first = (err as Partial<BuildFailure>).errors?.[0];
    if (!first) throw err;
    const at = first.location ? ` (line ${first.location.line}, column ${first.location.column + 1})` : '';
    throw new InvalidAppError(`the app does not compile: ${first.text}${at}`);
  }
}
