import { build, type BuildFailure, type Plugin } from 'esbuild';
import { existsSync } from 'node:fs';
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

let prelude: Promise<string> | undefined;

/** The prelude every sandbox loads first, bundled on first use and kept. */
export function preludeCode(): Promise<string> {
  prelude ??= build({ entryPoints: [ENTRY], bundle: true, format: 'iife', platform: 'neutral', target: TARGET, minify: true, write: false, logLevel: 'silent' }).then((r) => r.outputFiles[0]!.text);
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
