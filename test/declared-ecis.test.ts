import { describe, expect, it } from 'vitest';
import { Host, keys, put, seededIds, type CloudId, type Eci } from '../kernel/index.ts';
import { loadCloud } from '../kernel/clouds/cloud-state.ts';
import { ruleset, wrangler } from '../rulesets/index.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { allKeys, memoryStore, onCleanup, testHost } from './helpers.ts';

const W = 'io.picolabs.wrangler';

/** A ruleset that needs an inbox ECI admitting `door:*` in every cloud it is installed in. */
const doorbell = ruleset('test.doorbell', {
  ecis: [{ tags: ['Doorbell'], eventPolicy: { allow: [{ domain: 'door', name: '*' }], deny: [] }, queryPolicy: { allow: [], deny: [] } }],
})
  .rule('ring', { select: 'door:ring', action: (ctx) => ctx.directive('rang') })
  .build();

type Channel = { id: string; tags: string[]; eventPolicy: { allow: unknown[] } };
const channels = async (host: Host, eci: string) => (await host.query({ eci, rid: W, name: 'channels' })) as Channel[];
const doorbells = async (host: Host, eci: string) => (await channels(host, eci)).filter((c) => c.tags.includes('doorbell'));

describe('ECIs a ruleset declares', () => {
  it('are made with its install, kept when it is installed again, and deleted with its uninstall', async () => {
    const { host, root } = await testHost({ rulesets: [doorbell] });
    const before = await allKeys(host.store);
    await install(host, root.eci, 'test.doorbell');
    const [eci] = await doorbells(host, root.eci);
    expect(eci).toEqual({ id: eci!.id, tags: ['doorbell'], eventPolicy: { allow: [{ domain: 'door', name: '*' }], deny: [] }, queryPolicy: { allow: [], deny: [] } });
    expect((await host.event({ eci: eci!.id, domain: 'door', type: 'ring' })).directives[0]!.name).toBe('rang');
    await install(host, root.eci, 'test.doorbell');
    expect((await doorbells(host, root.eci)).map((c) => c.id)).toEqual([eci!.id]);
    // It lives exactly as long as the install: wrangler does not delete it alone.
    expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci: eci!.id } }))).toMatchObject({ code: 'INVALID_ARGS' });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: 'test.doorbell' } });
    expect(await rejection(host.event({ eci: eci!.id, domain: 'door', type: 'ring' }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    expect((await allKeys(host.store)).filter((k) => !k.includes('!~log!'))).toEqual(before.filter((k) => !k.includes('!~log!')));
  });

  it('made through a narrow ECI, get no more than its authority', async () => {
    const { host, root } = await testHost({ rulesets: [doorbell] });
    const made = await host.event({
      eci: root.eci,
      domain: 'wrangler',
      type: 'new_channel_request',
      attrs: {
        eventPolicy: {
          allow: [
            { domain: 'wrangler', name: '*' },
            { domain: 'door', name: 'ring' },
          ],
        },
      },
    });
    const narrow = (made.directives[0]!.options as { id: string }).id;
    await install(host, narrow, 'test.doorbell');
    const [eci] = await doorbells(host, root.eci);
    expect(eci!.eventPolicy).toEqual({ allow: [{ domain: 'door', name: 'ring' }], deny: [] });
  });

  it('of the built-ins exist in every new cloud before any rule runs', async () => {
    const host = await Host.open({ store: await memoryStore(), ids: seededIds(5), rulesets: [wrangler, doorbell], builtins: [wrangler.rid, doorbell.rid] });
    onCleanup(() => host.close());
    const root = await host.root();
    const kid = await newChild(host, root.eci, 'kid');
    for (const eci of [root.eci, kid.eci]) expect((await doorbells(host, eci)).map((c) => c.eventPolicy)).toEqual([{ allow: [{ domain: 'door', name: '*' }], deny: [] }]);
    expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'uninstall_ruleset_request', attrs: { rid: doorbell.rid } }))).toMatchObject({ code: 'INVALID_ARGS' });
  });

  it("of the built-ins are ids in the cloud's meta record, not records of their own, and go with the cloud", async () => {
    const host = await Host.open({ store: await memoryStore(), ids: seededIds(6), rulesets: [wrangler, doorbell], builtins: [wrangler.rid, doorbell.rid] });
    onCleanup(() => host.close());
    const root = await host.root();
    const before = await allKeys(host.store);
    const kid = await newChild(host, root.eci, 'kid');
    const [bell] = await doorbells(host, kid.eci);
    const own = (await allKeys(host.store)).filter((k) => k.startsWith(`c!${kid.id}!`) && !k.includes('!~log!'));
    expect(own).toEqual([`c!${kid.id}!eci!${kid.eci}`, `c!${kid.id}!meta`]);
    expect(await host.store.get(keys.meta(kid.id))).toMatchObject({ builtinEcis: { [doorbell.rid]: [bell!.id] } });
    expect(await host.store.get(keys.eciIndex(bell!.id))).toBe(kid.id);
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'kid' } });
    expect(await rejection(host.event({ eci: bell!.id, domain: 'door', type: 'ring' }))).toMatchObject({ code: 'UNKNOWN_ECI' });
    expect((await allKeys(host.store)).filter((k) => !k.includes('!~log!'))).toEqual(before.filter((k) => !k.includes('!~log!')));
  });

  it('of the built-ins, in a cloud that has records of their installs and ECIs (as clouds made before), load once each, built-ins first', async () => {
    const store = await memoryStore();
    const id = 'C0001aaaaaaaaaaaaaaaa' as CloudId;
    const bell = { id: 'E0001bbbbbbbbbbbbbbbbbbbbbb' as Eci, tags: ['doorbell'], eventPolicy: { allow: [], deny: [] }, queryPolicy: { allow: [], deny: [] } };
    await store.write([
      put(keys.meta(id), { id, name: 'old', parent: null, created: 0 }),
      put(keys.install(id, 'test.other'), { rid: 'test.other', config: {}, seq: 1 }),
      put(keys.install(id, doorbell.rid), { rid: doorbell.rid, config: {}, seq: 3, ecis: [bell.id] }),
      put(keys.eci(id, bell.id), bell),
    ]);
    const cloud = (await loadCloud(store, id, [wrangler, doorbell]))!;
    expect(cloud.installs).toEqual([
      { rid: W, config: {}, seq: 0 },
      { rid: doorbell.rid, config: {}, seq: 3, ecis: [bell.id] },
      { rid: 'test.other', config: {}, seq: 1 },
    ]);
    // Its stored ECI wins over the declaration (here it was made narrower).
    expect([...cloud.ecis.values()]).toEqual([bell]);
  });

  it('count towards the ECIs a cloud may have', async () => {
    const { host, root } = await testHost({ rulesets: [doorbell], limits: { ecisPerCloud: 2 } }); // the owner's and the well-known
    expect(await rejection(install(host, root.eci, 'test.doorbell'))).toMatchObject({ code: 'LIMIT_EXCEEDED' });
    expect(await doorbells(host, root.eci)).toEqual([]);
  });

  it('are checked when the ruleset is registered', async () => {
    const { host } = await testHost();
    for (const tags of [['system'], ['no spaces']]) {
      const bad = ruleset('test.bad', { ecis: [{ tags, eventPolicy: { allow: [], deny: [] }, queryPolicy: { allow: [], deny: [] } }] }).build();
      expect(() => host.register(bad)).toThrow(expect.objectContaining({ code: 'INVALID_RULESET' }));
    }
  });
});
