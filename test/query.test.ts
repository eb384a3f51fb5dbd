import { describe, expect, it, vi } from 'vitest';
import { ruleset } from '../rulesets/index.ts';
import { install, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

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
