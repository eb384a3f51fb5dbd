import { describe, expect, it } from 'vitest';
import { ruleset } from '../rulesets/index.ts';
import { startServer } from '../channels/http/server.ts';
import { onCleanup, testHost } from './helpers.ts';

/**
 * Conditions a black-box test cannot set up on demand: a full mailbox (a rule held open by the test)
 * and a real bug (a result JSON cannot encode). Real HTTP on port 0 in front of an in-process host.
 */

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return { wait, open };
}

describe('HTTP in front of an in-process host', () => {
  it('a full mailbox answers 503 MAILBOX_FULL and the queued events still commit', async () => {
    const held = gate();
    let entered!: () => void;
    const inside = new Promise<void>((resolve) => (entered = resolve));
    const slow = ruleset<{ n: number }>('test.slow')
      .rule('hold', {
        select: 'slow:hold',
        async action(ctx) {
          entered();
          await held.wait;
          ctx.ent.set('n', (ctx.ent.get('n') ?? 0) + 1);
        },
      })
      .share('n', (ctx) => ctx.ent.get('n') ?? 0)
      .build();
    const { host, root } = await testHost({ rulesets: [slow], limits: { mailbox: 1 } });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: 'test.slow' } });
    const server = await startServer({ host, port: 0, hostname: '127.0.0.1' });
    onCleanup(() => server.stop());
    const send = () => fetch(`${server.url}/sky/event/${root.eci}/x/slow/hold`, { method: 'POST' });

    const first = send(); // runs, and waits inside the rule
    await inside;
    const second = send(); // waits in the mailbox (limit 1)
    while (host.stats().mailboxDepth < 2) await new Promise((r) => setImmediate(r));
    const third = await send();
    expect(third.status).toBe(503);
    expect(await third.json()).toMatchObject({ error: { code: 'MAILBOX_FULL', limit: 1 } });
    held.open();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(await host.query({ eci: root.eci, rid: 'test.slow', name: 'n' })).toBe(2);
  });

  it('a real bug is a 500 INTERNAL, reported, and the server goes on; a value JSON cannot carry is refused where it is made (UNSTORABLE_VALUE, not a bug)', async () => {
    const odd = ruleset('test.odd')
      .share('big', () => 10n)
      .share('fine', () => 'ok')
      .build();
    const { host, root } = await testHost({ rulesets: [odd] });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'install_ruleset_request', attrs: { rid: 'test.odd' } });
    const reported: unknown[] = [];
    const { HttpApi } = await import('../channels/http/api.ts');
    const api = new HttpApi({ host, onInternalError: (err) => reported.push(err) });
    const { createServer } = await import('node:http');
    const server = createServer(api.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

    const big = await fetch(`${base}/sky/cloud/${root.eci}/test.odd/big`);
    expect(big.status).toBe(500);
    expect(await big.json()).toMatchObject({ error: { code: 'UNSTORABLE_VALUE', message: expect.stringContaining('BigInt') } });
    expect(reported).toHaveLength(0);
    const query = host.query.bind(host);
    host.query = () => Promise.reject(new TypeError('a bug in kumo'));
    const bad = await fetch(`${base}/sky/cloud/${root.eci}/test.odd/fine`);
    expect(bad.status).toBe(500);
    expect(await bad.json()).toMatchObject({ error: { code: 'INTERNAL', message: 'a bug in kumo' } });
    expect(reported).toHaveLength(1);
    host.query = query;
    const good = await fetch(`${base}/sky/cloud/${root.eci}/test.odd/fine`);
    expect(await good.json()).toBe('ok');
  });

  it('after stop, the host is closed and the port refuses connections', async () => {
    const { host, root } = await testHost();
    const server = await startServer({ host, port: 0, hostname: '127.0.0.1' });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    await server.stop();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
    await expect(host.event({ eci: root.eci, domain: 'a', type: 'b' })).rejects.toMatchObject({ code: 'SHUTTING_DOWN' });
  });
});
