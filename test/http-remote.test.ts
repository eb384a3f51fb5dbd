import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { RoutedEvent } from '../kernel/index.ts';
import { Client, HostError } from '../channels/cli/client.ts';
import { baseUrl, Destinations } from '../channels/providers/destinations.ts';
import { HttpRemote } from '../channels/providers/http-remote.ts';
import { readAnswer } from '../channels/providers/answer.ts';
import { startServer } from '../channels/http/server.ts';
import { onCleanup, testHost } from './helpers.ts';
import { post, rootEci, startServerProcess } from './server-harness.ts';

type Seen = { method: string; url: string; type: string | undefined; body: string };

/** A stand-in for another provider's host: records each request and answers with `reply`. */
async function fakeHost(reply: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, type: req.headers['content-type'], body });
      reply(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const answer =
  (status: number, body?: string, headers: Record<string, string> = {}) =>
  (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(body);
  };

const event = (attrs: Record<string, unknown> = {}): RoutedEvent => ({ eci: 'Eother', event: { eid: 'e1', domain: 'wrangler', type: 'new_subscription_request', attrs, time: 0 } });

describe('events to hosts of other providers, over HTTP', () => {
  it('posts the way a pico engine does: /c/{eci}/event/{domain}/{type}, the attrs as JSON', async () => {
    const far = await fakeHost(answer(200, '"cmx-eid"'));
    await new HttpRemote().deliver(`${far.url}/`, event({ Tx: 'E1', nested: { a: [1] } }));
    expect(far.seen).toEqual([{ method: 'POST', url: '/c/Eother/event/wrangler/new_subscription_request', type: 'application/json', body: '{"Tx":"E1","nested":{"a":[1]}}' }]);
  });

  it('reads a pico engine’s 200 {"error"} as a refusal, 5xx and 429 as worth a retry, and follows no redirect', async () => {
    const cases: Array<[ReturnType<typeof answer>, Record<string, unknown>]> = [
      [answer(200, '{"error":"Error: ECI not found Eother"}'), { code: 'REMOTE_REFUSED', status: 502 }],
      [answer(503, '{"error":{"code":"MAILBOX_FULL","message":"full"}}'), { code: 'REMOTE_UNAVAILABLE', status: 503 }],
      [answer(500, 'oops'), { code: 'REMOTE_UNAVAILABLE' }],
      [answer(429), { code: 'REMOTE_UNAVAILABLE' }],
      [answer(404, '{"error":{"code":"UNKNOWN_ECI","message":"no cloud answers to ECI \\"Eother\\""}}'), { code: 'UNKNOWN_ECI', status: 404 }],
      [answer(403, '{"error":{"code":"POLICY_DENIED","message":"no"}}'), { code: 'POLICY_DENIED' }],
      [answer(410, '{"error":{"code":"SOME_FUTURE_CODE","message":"gone"}}'), { code: 'REMOTE_REFUSED' }],
      [answer(302, '', { location: 'http://169.254.169.254/' }), { code: 'REMOTE_REFUSED' }],
    ];
    for (const [reply, expected] of cases) {
      const far = await fakeHost(reply);
      await expect(new HttpRemote().deliver(far.url, event())).rejects.toMatchObject(expected);
      expect(far.seen).toHaveLength(1);
    }
    // Nothing listens on port 1: the connection is refused.
    await expect(new HttpRemote().deliver('http://127.0.0.1:1', event())).rejects.toMatchObject({ code: 'REMOTE_UNAVAILABLE' });
  });

  it('waits a bounded time, and reads a bounded answer', async () => {
    const silent = await fakeHost(() => undefined); // never answers
    await expect(new HttpRemote({ timeoutMs: 200 }).deliver(silent.url, event())).rejects.toMatchObject({ code: 'REMOTE_UNAVAILABLE' });
    const endless = await fakeHost((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const more = (): void => {
        while (!res.destroyed && res.write('x'.repeat(16_384)));
        if (!res.destroyed) res.once('drain', more);
      };
      more();
    });
    // An answer that never ends is not waited for: the first 64 KiB say it was taken.
    await new HttpRemote({ timeoutMs: 20_000 }).deliver(endless.url, event());
  });

  it('keeps to the operator’s list of destinations, also when delivering', async () => {
    const d = new Destinations({ allow: ['*.example.com', 'kumo.test:8443', '[::1]'], deny: ['bad.example.com'] });
    expect(d.check('https://a.example.com/')).toBe('https://a.example.com');
    expect(d.check('https://kumo.test:8443/base/')).toBe('https://kumo.test:8443/base');
    expect(d.check('http://[::1]:3000')).toBe('http://[::1]:3000');
    for (const url of ['https://bad.example.com', 'https://example.org', 'https://kumo.test', 'https://example.com.evil.org']) {
      expect(() => d.check(url)).toThrow(expect.objectContaining({ code: 'DESTINATION_DENIED' }));
    }
    for (const url of ['not a url', 'ftp://a.example.com', 'https://user:pw@a.example.com', 'https://a.example.com/?q=1']) {
      expect(() => d.check(url)).toThrow(expect.objectContaining({ code: 'INVALID_ARGS' }));
    }
    expect(() => new Destinations({ allow: ['http://x'] })).toThrow(expect.objectContaining({ code: 'INVALID_ARGS' }));
    expect(baseUrl('HTTP://Kumo.Example:80/')).toBe('http://kumo.example');
    const far = await fakeHost(answer(202, '{"eid":"x"}'));
    await expect(new HttpRemote({ deny: ['127.0.0.1'] }).deliver(far.url, event())).rejects.toMatchObject({ code: 'DESTINATION_DENIED' });
    expect(far.seen).toEqual([]);
  });

  it('announces the host’s public URL (kumo serve --public-url) as the Tx_host of its proposals', async () => {
    const far = await fakeHost(answer(202, '{"eid":"x"}'));
    const server = await startServerProcess({ args: ['--public-url', 'https://kumo.example/'] });
    const r = await post(`${server.url}/sky/event/${await rootEci(server)}/p1/wrangler/subscription`, { wellKnown_Tx: 'EfarWellKnown', Tx_host: far.url, Rx_role: 'a', Tx_role: 'b' });
    expect(r.status).toBe(200);
    await expect.poll(() => far.seen.length, { timeout: 15_000 }).toBe(1);
    expect(far.seen[0]!.url).toBe('/c/EfarWellKnown/event/wrangler/new_subscription_request');
    expect(JSON.parse(far.seen[0]!.body)).toMatchObject({ Tx_host: 'https://kumo.example', Rx_role: 'b', Tx_role: 'a', channel_name: 'link', channel_type: 'Tx_Rx', Id: expect.any(String), Tx: expect.any(String) });
    // As in pico, a proposal may name the host to answer at (Rx_host).
    await post(`${server.url}/sky/event/${await rootEci(server)}/p2/wrangler/subscription`, { wellKnown_Tx: 'EfarWellKnown', Tx_host: far.url, Rx_host: 'https://other.example' });
    await expect.poll(() => far.seen.length, { timeout: 15_000 }).toBe(2);
    expect(JSON.parse(far.seen[1]!.body)).toMatchObject({ Tx_host: 'https://other.example' });
  });

  it('hands kumo’s own refusals back with their codes', async () => {
    const { host } = await testHost();
    const server = await startServer({ host, port: 0, hostname: '127.0.0.1' });
    onCleanup(() => server.stop());
    await expect(new HttpRemote().deliver(server.url, { eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', event: event().event })).rejects.toMatchObject({ code: 'UNKNOWN_ECI', details: { url: server.url } });
  });

  it('reads answers the same way for the CLI: a pico engine’s null (empty body) and its errors', async () => {
    expect(readAnswer(200, '')).toEqual({ ok: true, value: null });
    expect(readAnswer(202, '{"eid":"x"}')).toEqual({ ok: true, value: { eid: 'x' } });
    expect(readAnswer(200, '{"error":"x","more":1}')).toEqual({ ok: true, value: { error: 'x', more: 1 } });
    const empty = await fakeHost(answer(200, ''));
    expect(await new Client(empty.url).query('Eany', 'io.picolabs.subscription', 'wellKnown_Rx')).toBeNull();
    const failing = await fakeHost(answer(200, '{"error":"Error: Not allowed by channel policy"}'));
    const err = await new Client(failing.url).query('Eany', 'rid', 'fn').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HostError);
    expect(err).toMatchObject({ status: 200, code: 'REMOTE_REFUSED', message: 'Error: Not allowed by channel policy' });
  });
});
