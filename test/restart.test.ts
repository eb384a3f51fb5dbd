import { openDataDir } from '../channels/data-dir.ts';
import { describe, expect, it } from 'vitest';
import { type Host } from '../kernel/index.ts';
import { counter, install, newChild } from './fixtures.ts';
import { tempDir, testHost, wrapStore } from './helpers.ts';

/** Everything observable about a tree of clouds, read through wrangler and the counter. */
async function snapshot(host: Host, eci: string): Promise<unknown> {
  const q = (name: string, rid = 'io.picolabs.wrangler') => host.query({ eci, rid, name });
  const rids = (await q('installedRids')) as string[];
  const children = (await q('children')) as Array<{ name: string; eci: string }>;
  return {
    name: await q('name'),
    rids,
    channels: await q('channels'),
    count: rids.includes('test.counter') ? await q('count', 'test.counter') : null,
    children: await Promise.all(children.map(async (c) => ({ ...c, tree: await snapshot(host, c.eci) }))),
  };
}

describe('restart', () => {
  it('keeps a whole tree of clouds with ECIs, rulesets and state', async () => {
    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [counter] });
    const { host, root } = first;
    await install(host, root.eci, 'test.counter');
    await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 3 } });
    const a = await newChild(host, root.eci, 'a');
    const b = await newChild(host, root.eci, 'b');
    const a1 = await newChild(host, a.eci, 'a1');
    await install(host, a1.eci, 'test.counter');
    await host.event({ eci: a1.eci, domain: 'counter', type: 'inc', attrs: { by: 7 } });
    await host.event({ eci: b.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['device'], eventPolicy: { allow: [{ domain: 'counter', name: 'inc' }] } } });
    const before = await snapshot(host, root.eci);
    await host.close();

    const second = await testHost({ dir, rulesets: [counter], seed: 7 });
    expect(second.root).toEqual({ ...root, created: false });
    const after = await snapshot(second.host, root.eci);
    expect(after).toEqual(before);
    expect(JSON.stringify(after)).toContain('"device"');
    expect((after as { count: number }).count).toBe(3);
  });

  it('reads nothing per stored cloud at start-up', async () => {
    const reads = async (children: number): Promise<number> => {
      const dir = await tempDir();
      const { host, root } = await testHost({ dir });
      for (let i = 0; i < children; i++) await newChild(host, root.eci, `c${i}`);
      await host.close();
      const store = await openDataDir(dir);
      let n = 0;
      const counting = wrapStore(store, {
        get: (k) => (n++, store.get(k)),
        entries: async (r) => {
          const rows = await store.entries(r);
          n += rows.length;
          return rows;
        },
        keys: async (r) => {
          const ks = await store.keys(r);
          n += ks.length;
          return ks;
        },
      });
      const again = await testHost({ store: counting });
      expect(again.host.stats().activeClouds).toBe(0);
      return n;
    };
    expect(await reads(30)).toBe(await reads(1));
  });
});
