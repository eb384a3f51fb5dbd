import type { Host } from '../kernel/index.ts';
import { installApp } from './apps-harness.ts';
import { testHost } from './helpers.ts';

/** A host whose apps (KRL rulesets among them) may come from 127.0.0.1, the tests' web server. */
export function krlHost(krl?: { steps?: number; depth?: number; size?: number }): ReturnType<typeof testHost> {
  return testHost({ apps: { sources: { allow: ['127.0.0.1'] }, ...(krl ? { krl } : {}) } });
}

/** Install KRL `source` into the cloud behind `eci` (uploaded, with consent); the directive's options. */
export function installKrl(host: Host, eci: string, source: string, attrs: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  return installApp(host, eci, { source, consent: true, ...attrs });
}

/** A ruleset `rid` whose globals are `globals` (KRL text) and which shares `shares`, with `rules` after. */
export function krlRuleset(rid: string, { globals = '', shares = [] as string[], rules = '', meta = '' } = {}): string {
  return `ruleset ${rid} {\n  meta {\n    ${shares.length ? `shares ${shares.join(', ')}` : ''}\n    ${meta}\n  }\n  global {\n${globals}\n  }\n${rules}\n}\n`;
}

/**
 * The value of each KRL expression, each the body of a shared function of one installed ruleset,
 * queried through the host as a pico's would be (a failure answers its message).
 */
export async function evaluate(exprs: readonly string[], ent: Record<string, string> = {}): Promise<unknown[]> {
  const { host, root } = await krlHost();
  const globals = exprs.map((e, i) => `    e${i} = function() {\n      ${e}\n    }`).join('\n');
  const sets = Object.entries(ent)
    .map(([k, v]) => `ent:${k} := ${v};`)
    .join(' ');
  const rules = `  rule setup { select when test setup fired { ${sets} } }`;
  await installKrl(host, root.eci, krlRuleset('test.eval', { globals, shares: exprs.map((_, i) => `e${i}`), rules }));
  if (sets) await host.event({ eci: root.eci, domain: 'test', type: 'setup', attrs: {} });
  return Promise.all(exprs.map((_, i) => host.query({ eci: root.eci, rid: 'test.eval', name: `e${i}`, args: {} }).catch((err: Error) => `failed: ${err.message}`)));
}

/** The error of one KRL expression evaluated as a query (its code and message). */
export async function evaluateError(e: string): Promise<{ code: string; message: string }> {
  const { host, root } = await krlHost();
  await installKrl(host, root.eci, krlRuleset('test.fail', { globals: `    f = function() {\n      ${e}\n    }`, shares: ['f'] }));
  return host.query({ eci: root.eci, rid: 'test.fail', name: 'f', args: {} }).then(
    (v) => ({ code: 'NONE', message: `answered ${JSON.stringify(v)}` }),
    (err: { code: string; message: string }) => ({ code: err.code, message: err.message }),
  );
}
