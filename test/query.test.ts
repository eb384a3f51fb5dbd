import { describe, expect, it, vi } from 'vitest';
import { InvalidArgsError, subscribe } from '../kernel/index.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, rejection } from './fixtures.ts';
import { onCleanup, tempDir, testHost } from './helpers.ts';

const slow = ruleset('test.slow')
  .share('forever', () => new Promise(() => undefined))
  .share('quick', () => 'quick')
  .build();

describe('the query time limit', () => {
  it('stops waiting for a function once the host clock passes queryMs, and the cloud goes on', async () => {
    const { host, root, clock } = await testHost({ rulesets: [slow], limits: { queryMs: 1000 } });
    await install(host, root.eci, 'test.slow');
    const pending = clock.pending;
    let settled = false;
    const p = host.query({ eci: root.eci, rid: 'test.slow', name: 'forever' }).finally(() => (settled = true));
    await vi.waitFor(() => expect(clock.pending).toBe(pending + 1)); // its timer is set
    clock.advance(999);
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(settled).toBe(false);
    clock.advance(1);
    expect(await rejection(p)).toMatchObject({ code: 'QUERY_TIMEOUT', status: 504, details: { rid: 'test.slow', name: 'forever' } });
    expect(await host.query({ eci: root.eci, rid: 'test.slow', name: 'quick' })).toBe('quick');
    expect(clock.pending).toBe(pending); // no timer left behind
  });
});

describe('shared functions', () => {
  const fns = ruleset('test.fns')
    .share('echo', (ctx, args) => ({ args, rid: ctx.rid, cloud: ctx.cloud.name }))
    .share('broken', () => {
      throw new Error('division by zero');
    })
    .share('picky', () => {
      throw new InvalidArgsError('give me an n');
    })
    .share('later', () => Promise.resolve('done'))
    .build();

  it('get the args and a read-only view of their ruleset in their cloud; what they throw is their answer', async () => {
    const { host, root } = await testHost({ rulesets: [fns] });
    await install(host, root.eci, 'test.fns');
    const q = (name: string, args?: Record<string, unknown>) => host.query({ eci: root.eci, rid: 'test.fns', name, ...(args ? { args } : {}) });
    expect(await q('echo', { n: [1, 2] })).toEqual({ args: { n: [1, 2] }, rid: 'test.fns', cloud: 'root' });
    expect(await q('later')).toBe('done');
    expect(await rejection(q('broken'))).toMatchObject({ code: 'QUERY_FAILED', status: 500, message: 'function test.fns/broken failed: division by zero', details: { rid: 'test.fns', name: 'broken' } });
    expect(await rejection(q('picky'))).toMatchObject({ code: 'INVALID_ARGS', status: 400, message: 'give me an n' });
  });

  it('publish each query with its time, and its error code when it failed', async () => {
    const { host, root } = await testHost({ rulesets: [fns] });
    await install(host, root.eci, 'test.fns');
    const seen: Array<{ rid: string; name: string; error?: string; cloudId: string }> = [];
    const refusals: string[] = [];
    const stops = [
      subscribe('query', (m) => {
        if (m.host === host.id) seen.push({ rid: m.rid, name: m.name, cloudId: m.cloudId, ...(m.error ? { error: m.error } : {}) });
      }),
      subscribe('refusal', (m) => void (m.host === host.id && refusals.push(m.code))),
    ];
    onCleanup(() => stops.forEach((stop) => stop()));
    await host.query({ eci: root.eci, rid: 'test.fns', name: 'later' });
    await rejection(host.query({ eci: root.eci, rid: 'test.fns', name: 'broken' }));
    await rejection(host.query({ eci: root.eci, rid: 'test.fns', name: 'nope' })); // refused: no function ran
    expect(seen).toEqual([
      { rid: 'test.fns', name: 'later', cloudId: root.cloudId },
      { rid: 'test.fns', name: 'broken', cloudId: root.cloudId, error: 'QUERY_FAILED' },
    ]);
    // A function that ran and failed is not a refusal of the host; one that does not exist is.
    expect(refusals).toEqual(['UNKNOWN_FUNCTION']);
  });

  it('of a ruleset installed but no longer registered on the host are UNKNOWN_RULESET', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [fns] });
    await install(first.host, first.root.eci, 'test.fns');
    await first.host.close();
    const { host, root } = await testHost({ dir });
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.fns', name: 'later' }))).toMatchObject({ code: 'UNKNOWN_RULESET', status: 404 });
    // Its events still run the other rulesets; the log names it once, however many events the episode had.
    await host.event({ eci: root.eci, eid: 'still', domain: 'wrangler', type: 'new_channel_request', attrs: {} });
    expect((await host.episodeLog(root.eci, 1))[0]).toMatchObject({ eid: 'still', raised: 1, fired: ['io.picolabs.wrangler/new_channel_request'], missing: ['test.fns'] });
  });
});
