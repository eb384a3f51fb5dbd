import { buildSync } from 'esbuild';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The console's files (docs/console.md), built from `console/app/` when a host first serves them:
 * one script bundled by esbuild (with `@simplewebauthn/browser` and `qrcode-generator`, nothing
 * from a CDN), the page and its style. About 0.2 s once per process, then kept in memory.
 */

export interface Asset {
  type: string;
  body: Buffer;
}

const APP = join(import.meta.dirname, 'app');
let built: Map<string, Asset> | undefined;

/** The console's files by name (`index.html`, `app.js`, `app.css`), built on first call. */
export function consoleAssets(): Map<string, Asset> {
  if (built) return built;
  const out = buildSync({ entryPoints: [join(APP, 'main.ts')], bundle: true, format: 'esm', target: 'es2022', minify: true, write: false, legalComments: 'none', logLevel: 'silent' });
  built = new Map([
    ['index.html', { type: 'text/html; charset=utf-8', body: readFileSync(join(APP, 'index.html')) }],
    ['app.css', { type: 'text/css; charset=utf-8', body: readFileSync(join(APP, 'app.css')) }],
    ['app.js', { type: 'text/javascript; charset=utf-8', body: Buffer.from(out.outputFiles[0]!.contents) }],
  ]);
  return built;
}
