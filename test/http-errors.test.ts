import { request } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { post, rootEci, startServerProcess, wrangler, type ServerProcess } from './server-harness.ts';

/**
 * Every documented HTTP error, against the real server process: the right status and stable code,
 * a JSON `{error: {code, message}}` body, and no change to any cloud.
 */

let server: ServerProcess;
let owner: string;
let child: { eci: string; id: string };
let device: string;

/** Raw request (bytes, headers and chunking under our control). */
function raw(method: string, path: string, body?: Buffer | Buffer[], headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server.url), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : null, headers: res.headers });
      });
    });
    req.on('error', reject);
    if (Array.isArray(body)) for (const b of body) req.write(b);
    else if (body) req.write(body);
    req.end();
  });
}

/** Everything a bad request could have changed. */
async function snapshot(): Promise<unknown> {
  const q = async (eci: string, rid: string, name: string) => (await post(`${server.url}/sky/cloud/${eci}/${rid}/${name}`)).body;
  return {
    children: await q(owner, 'io.picolabs.wrangler', 'children'),
    rootEcis: await q(owner, 'io.picolabs.wrangler', 'channels'),
    childEcis: await q(child.eci, 'io.picolabs.wrangler', 'channels'),
    installed: await q(child.eci, 'io.picolabs.wrangler', 'installedRids'),
    readings: await q(child.eci, 'example.temperature', 'readings'),
  };
}

beforeAll(async () => {
  server = await startServerProcess({ perFile: true });
  owner = await rootEci(server);
  child = (await wrangler(server.url, owner, 'new_child_request', { name: 'sensor' }, 'wrangler:new_child_created')) as { eci: string; id: string };
  await wrangler(server.url, child.eci, 'install_ruleset_request', { rid: 'example.temperature' }, 'wrangler:ruleset_installed');
  const policy = {
    tags: ['device'],
    eventPolicy: { allow: [{ domain: 'sensor', name: 'reading' }], deny: [] },
    queryPolicy: { allow: [{ rid: 'example.temperature', name: 'latest' }], deny: [] },
  };
  device = (await wrangler(server.url, child.eci, 'new_channel_request', policy, 'wrangler:channel_created')).id as string;
  expect((await post(`${server.url}/sky/event/${device}/first/sensor/reading`, { temperature: 20 })).status).toBe(200);
});

describe('HTTP errors: status, code, and nothing changed', () => {
  const big = Buffer.from(JSON.stringify({ temperature: 1, pad: 'x'.repeat(300 * 1024) }));
  const manyKeys = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=1`).join('&');
  const cases: Array<{ what: string; method?: string; path: () => string; body?: () => Buffer | Buffer[]; headers?: Record<string, string>; status: number; code: string }> = [
    { what: 'unknown route', path: () => '/nope', status: 404, code: 'UNKNOWN_ROUTE' },
    { what: 'event route with a missing segment', path: () => `/sky/event/${child.eci}/e/sensor`, status: 404, code: 'UNKNOWN_ROUTE' },
    { what: 'PUT on an event route', method: 'PUT', path: () => `/sky/event/${child.eci}/e/sensor/reading`, status: 404, code: 'UNKNOWN_ROUTE' },
    { what: 'unknown ECI (event)', path: () => '/sky/event/Enope/e/sensor/reading?temperature=1', status: 404, code: 'UNKNOWN_ECI' },
    { what: 'unknown ECI (query)', path: () => '/sky/cloud/Enope/example.temperature/latest', status: 404, code: 'UNKNOWN_ECI' },
    { what: 'unknown ECI (/c/ async event)', method: 'POST', path: () => '/c/Enope/event/sensor/reading?temperature=1', status: 404, code: 'UNKNOWN_ECI' },
    { what: 'ruleset not installed', path: () => `/sky/cloud/${owner}/example.temperature/latest`, status: 404, code: 'UNKNOWN_RULESET' },
    { what: 'unknown function', path: () => `/sky/cloud/${child.eci}/example.temperature/nope`, status: 404, code: 'UNKNOWN_FUNCTION' },
    { what: 'event denied by policy', path: () => `/sky/event/${device}/e/sensor/reset`, status: 403, code: 'POLICY_DENIED' },
    { what: 'event denied by policy (/c/ async event)', method: 'POST', path: () => `/c/${device}/event/sensor/reset`, status: 403, code: 'POLICY_DENIED' },
    { what: 'query denied by policy', path: () => `/sky/cloud/${device}/example.temperature/readings`, status: 403, code: 'POLICY_DENIED' },
    { what: 'log read without the system tag', path: () => `/c/${device}/logs`, status: 403, code: 'POLICY_DENIED' },
    {
      what: 'malformed JSON event body',
      method: 'POST',
      path: () => `/sky/event/${child.eci}/e/sensor/reading`,
      body: () => Buffer.from('{"temperature": 1'),
      headers: { 'content-type': 'application/json' },
      status: 400,
      code: 'INVALID_EVENT',
    },
    { what: 'malformed JSON query body', method: 'POST', path: () => `/sky/cloud/${child.eci}/example.temperature/latest`, body: () => Buffer.from('{,}'), headers: { 'content-type': 'application/json' }, status: 400, code: 'INVALID_ARGS' },
    { what: 'array attrs', method: 'POST', path: () => `/sky/event/${child.eci}/e/sensor/reading`, body: () => Buffer.from('[{"temperature": 1}]'), headers: { 'content-type': 'application/json' }, status: 400, code: 'INVALID_EVENT' },
    { what: 'string attrs', method: 'POST', path: () => `/sky/event/${child.eci}/e/sensor/reading`, body: () => Buffer.from('"hot"'), headers: { 'content-type': 'application/json' }, status: 400, code: 'INVALID_EVENT' },
    { what: 'null attrs', method: 'POST', path: () => `/sky/event/${child.eci}/e/sensor/reading`, body: () => Buffer.from('null'), headers: { 'content-type': 'application/json' }, status: 400, code: 'INVALID_EVENT' },
    {
      what: 'invalid UTF-8 body',
      method: 'POST',
      path: () => `/sky/event/${child.eci}/e/sensor/reading`,
      body: () => Buffer.from([0x7b, 0x22, 0x74, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      headers: { 'content-type': 'application/json' },
      status: 400,
      code: 'INVALID_EVENT',
    },
    { what: 'invalid UTF-8 in the query string', path: () => `/sky/event/${child.eci}/e/sensor/reading?temperature=%ff`, status: 400, code: 'INVALID_EVENT' },
    { what: 'invalid UTF-8 in the path', path: () => `/sky/event/${child.eci}/e/sensor/read%c3%28ing`, status: 400, code: 'INVALID_ARGS' },
    { what: 'too many query-string keys', path: () => `/sky/event/${child.eci}/e/sensor/reading?temperature=1&${manyKeys(1000)}`, status: 400, code: 'INVALID_EVENT' },
    {
      what: 'too many urlencoded body keys',
      method: 'POST',
      path: () => `/sky/event/${child.eci}/e/sensor/reading`,
      body: () => Buffer.from(`temperature=1&${manyKeys(1000)}`),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      status: 400,
      code: 'INVALID_EVENT',
    },
    { what: 'unsupported content-type', method: 'POST', path: () => `/sky/event/${child.eci}/e/sensor/reading`, body: () => Buffer.from('temperature 1'), headers: { 'content-type': 'text/plain' }, status: 400, code: 'INVALID_EVENT' },
    { what: 'bad event domain', path: () => `/sky/event/${child.eci}/e/sen%20sor/reading`, status: 400, code: 'INVALID_EVENT' },
    { what: 'bad eid', path: () => `/sky/event/${child.eci}/bad!eid/sensor/reading?temperature=1`, status: 400, code: 'INVALID_EVENT' },
    { what: 'attrs failing the rule schema', path: () => `/sky/event/${child.eci}/e/sensor/reading?temperature=hot`, status: 400, code: 'INVALID_ATTRS' },
    { what: 'bad log limit', path: () => `/c/${owner}/logs?limit=0`, status: 400, code: 'INVALID_ARGS' },
    {
      what: 'body over 256 KB (content-length)',
      method: 'POST',
      path: () => `/sky/event/${child.eci}/e/sensor/reading`,
      body: () => big,
      headers: { 'content-type': 'application/json', 'content-length': String(big.length) },
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    },
    {
      what: 'body over 256 KB (chunked)',
      method: 'POST',
      path: () => `/sky/event/${child.eci}/e/sensor/reading`,
      body: () => [big.subarray(0, 100_000), big.subarray(100_000, 200_000), big.subarray(200_000)],
      headers: { 'content-type': 'application/json' },
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    },
  ];

  it.each(cases)('$what → $status $code', async (c) => {
    const before = await snapshot();
    const res = await raw(c.method ?? 'GET', c.path(), c.body?.(), c.headers);
    expect(res.status).toBe(c.status);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.body.error).toMatchObject({ code: c.code, message: expect.any(String) });
    expect(await snapshot()).toEqual(before);
  });

  it('accepts exactly 1000 query-string keys (the limit is inclusive)', async () => {
    const res = await raw('GET', `/sky/event/${child.eci}/limit-ok/sensor/reading?temperature=5&${manyKeys(999)}`);
    expect(res.status).toBe(200);
    expect(res.body.directives[0].name).toBe('recorded');
  });

  it('a body just under the limit is accepted', async () => {
    const body = Buffer.from(JSON.stringify({ temperature: 7, pad: 'y'.repeat(200 * 1024) }));
    const res = await raw('POST', `/sky/event/${child.eci}/under/sensor/reading`, body, { 'content-type': 'application/json' });
    expect(res.status).toBe(200);
  });

  it('the body wins over the query string; urlencoded bodies work', async () => {
    const res = await raw('POST', `/sky/event/${child.eci}/bodywins/sensor/reading?temperature=1`, Buffer.from('temperature=42'), { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(200);
    expect(res.body.directives[0].options.temperature).toBe(42);
  });

  it('the owner ECI can read the episode log, newest first; failed episodes are logged with their code', async () => {
    const res = await raw('GET', `/c/${child.eci}/logs?limit=100`);
    expect(res.status).toBe(200);
    const entries = res.body.entries as Array<{ seq: number; error?: { code: string } }>;
    expect(entries.length).toBeGreaterThan(2);
    expect(entries.map((e) => e.seq)).toEqual([...entries.map((e) => e.seq)].sort((a, b) => b - a));
    expect(entries.some((e) => e.error?.code === 'INVALID_ATTRS')).toBe(true);
  });
});
