import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Host } from '../kernel/index.ts';
import type { AppOptions } from '../channels/open-node.ts';
import { onCleanup, testHost } from './helpers.ts';

/** A web server of app sources on 127.0.0.1, port 0: `serve(path, text)` puts one up; every request is counted. */
export async function appServer(): Promise<{ url: (path: string) => string; serve: (path: string, body: string, status?: number) => void; requests: string[] }> {
  const files = new Map<string, { body: string; status: number }>();
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const f = files.get(req.url ?? '');
    if (f && f.status >= 300 && f.status < 400) {
      res.writeHead(f.status, { location: f.body }).end();
      return;
    }
    res.writeHead(f?.status ?? 404, { 'content-type': 'text/javascript' }).end(f?.body ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    serve: (path, body, status = 200) => files.set(path, { body, status }),
    requests,
  };
}

/** A page on 127.0.0.1 that answers only once `release()` is called: a rule awaiting it holds its run open (`waiting` resolves when it is asked). */
export async function heldPage(): Promise<{ page: string; waiting: Promise<void>; release: () => void }> {
  let release = (): void => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let arrived = (): void => undefined;
  const waiting = new Promise<void>((resolve) => (arrived = resolve));
  const server = createServer((_req, res) => {
    arrived();
    void held.then(() => res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise((resolve) => server.close(resolve)));
  return { page: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, waiting, release };
}

/** The source of an app: a ruleset `rid` with `options` (version, permissions…) and the builder calls `chain`. */
export function appSource(rid: string, options: Record<string, unknown>, chain: string, prelude = ''): string {
  return `import { ruleset, z } from 'kumo';\n${prelude}\nexport default ruleset(${JSON.stringify(rid)}, ${JSON.stringify(options)})${chain}.build();\n`;
}

/** The README's example app (examples/apps/counter.ts): `counter:inc {by}` adds to `count`; `count()` reads it. */
export const COUNTER = readFileSync(new URL('../examples/apps/counter.ts', import.meta.url), 'utf8');
export const COUNTER_RID = 'example.app-counter';

/** A host whose apps may come from 127.0.0.1 (the test's server), with short sandbox limits. */
export async function appHost(apps: AppOptions = {}): Promise<Awaited<ReturnType<typeof testHost>>> {
  return testHost({ apps: { sources: { allow: ['127.0.0.1'] }, limits: { callMs: 100, memoryBytes: 16 * 1024 * 1024 }, ...apps } });
}

/** Install an app into the cloud behind `eci` (through wrangler); the directive's options. */
export async function installApp(host: Host, eci: string, attrs: Record<string, unknown>): Promise<Record<string, unknown>> {
  const r = await host.event({ eci, domain: 'wrangler', type: 'install_ruleset_request', attrs });
  return r.directives.find((d) => d.name === 'wrangler:ruleset_installed')!.options;
}
