import { describe, expect, it } from 'vitest';
import counter from '../examples/counter.ts';
import { install } from './fixtures.ts';
import { testHost } from './helpers.ts';

describe('examples/counter.ts (the README example)', () => {
  it('counts, and turns hot readings into alerts', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'example.counter');
    const r = await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: '2' } });
    expect(r.directives[0]).toMatchObject({ name: 'count', options: { count: 2 }, meta: { rid: 'example.counter', rule: 'inc' } });
    expect(await host.query({ eci: root.eci, rid: 'example.counter', name: 'count' })).toBe(2);
    await host.event({ eci: root.eci, eid: 'hot', domain: 'temp', type: 'reading', attrs: { temp: '35.2' } });
    await host.event({ eci: root.eci, eid: 'cool', domain: 'temp', type: 'reading', attrs: { temp: '20' } });
    const [cool, hot] = await host.episodeLog(root.eci, 2);
    expect(hot).toMatchObject({ eid: 'hot', fired: ['example.counter/hot'], raised: 1 });
    expect(cool).toMatchObject({ eid: 'cool', fired: [], raised: 0 });
  });
});
