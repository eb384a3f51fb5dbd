import { describe, expect, it, vi } from 'vitest';
import { cloudRecords, eciOfIndexKey, keys, parseCloudKey, ranges, type CloudId, type CloudRecord } from '../kernel/index.ts';
import { before, on, ruleset } from '../rulesets/index.ts';
import { install, newChild } from './fixtures.ts';
import { testHost } from './helpers.ts';

// One cloud's records all live under c!{cloudId}! (kernel/keys.ts), and `cloudRecords` lists them
// by kind: deleting, exporting and moving a cloud are built on that listing.

/** Touches every kind of record a cloud can have. */
const everything = ruleset('test.everything')
  .rule('write', { select: 'all:write', action: (ctx) => ctx.ent.set('note', { text: 'hi' }) })
  .rule('half', { select: before(on('all:first'), on('all:second')), action: (ctx) => ctx.directive('both') })
  .rule('later', { select: 'all:later', action: (ctx) => void ctx.scheduleAt(ctx.now() + 60_000, 'all', 'ring') })
  .rule('send', { select: 'all:send', action: (ctx) => ctx.send('E0000AAAAAAAAAAAAAAAAAAAAAA', 'x', 'y') })
  .build();

describe('the records of a cloud', () => {
  it('are listed by kind, each with what its key says, and activation reads all but those under ~', async () => {
    const { host, root } = await testHost({ rulesets: [everything] });
    const id = root.cloudId as CloudId;
    await install(host, root.eci, 'test.everything');
    const kid = await newChild(host, root.eci, 'kid');
    await host.event({ eci: root.eci, domain: 'all', type: 'write', idempotencyKey: 'once' }); // ent, idem, idemseq
    await host.event({ eci: root.eci, domain: 'all', type: 'first' }); // ee: half of a `before`
    await host.event({ eci: root.eci, domain: 'all', type: 'later' }); // sch
    await host.receive({ eci: root.eci, event: { eid: 'from-afar', domain: 'all', type: 'nothing', attrs: {}, time: 1 } }); // eid
    await host.event({ eci: root.eci, domain: 'all', type: 'send' });
    await vi.waitFor(async () => expect(await host.deadLetters(root.eci)).toHaveLength(1)); // dead
    const device = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'thermo', events: ['sensor'] } });
    const thermo = (device.directives[0]!.options as { id: CloudId }).id; // a child with a claim code

    const records = await cloudRecords(host.store, id);
    const kinds = new Set(records.map((r) => r.kind));
    expect([...kinds].sort()).toEqual(['dead', 'eci', 'ee', 'eid', 'ent', 'idem', 'idemseq', 'kid', 'log', 'meta', 'rs', 'sch'].sort());
    const of = <K extends CloudRecord['kind']>(kind: K) => records.filter((r): r is Extract<CloudRecord, { kind: K }> => r.kind === kind);
    expect(of('meta')).toEqual([{ kind: 'meta', key: keys.meta(id), value: expect.objectContaining({ name: 'root', parent: null }) }]);
    expect(of('eci').map((r) => r.eci)).toContain(root.eci);
    expect(
      of('kid')
        .map((r) => [r.childId, r.value.name])
        .sort(),
    ).toEqual(
      [
        [kid.id, 'kid'],
        [thermo, 'thermo'],
      ].sort(),
    );
    // The ids are in the keys, not stored again in the values.
    for (const r of [...of('meta'), ...of('eci'), ...of('kid')]) expect(r.value).not.toHaveProperty('id');
    expect(of('rs').map((r) => r.rid)).toContain('test.everything');
    expect(of('ent').filter((r) => r.rid === 'test.everything')).toEqual([{ kind: 'ent', rid: 'test.everything', name: 'note', key: keys.entity(id, 'test.everything', 'note'), value: { text: 'hi' } }]);
    expect(of('ee').map((r) => [r.rid, r.rule])).toEqual([['test.everything', 'half']]);
    const [schedule] = of('sch');
    expect(schedule!.value).toMatchObject({ id: schedule!.sid, domain: 'all', type: 'ring' });
    expect(of('eid')).toEqual([{ kind: 'eid', eid: 'from-afar', key: keys.applied(id, 'from-afar'), value: expect.any(Number) }]);
    expect(of('idem')).toMatchObject([{ key: keys.idem(id, 'once'), value: { seq: 1 } }]);
    expect(of('idemseq')).toEqual([{ kind: 'idemseq', seq: 1, key: keys.idemSeq(id, 1), value: 'once' }]);
    const [letter] = of('dead');
    expect(letter!.seq).toBe(letter!.value.seq);
    const logs = of('log');
    expect(logs.map((r) => r.seq)).toEqual(logs.map((r) => r.value.seq));
    expect(logs.map((r) => r.seq)).toEqual([...logs.map((r) => r.seq)].sort((a, b) => a - b));

    // The device cloud holds its claim code; under ~ too.
    const claims = (await cloudRecords(host.store, thermo)).filter((r) => r.kind === 'claim');
    expect(claims).toHaveLength(1);
    expect(await host.store.get(keys.claimIndex((claims[0] as Extract<CloudRecord, { kind: 'claim' }>).hash))).toMatchObject({ cloudId: thermo });

    // What activation reads: no log, dead letters, claim codes or idempotency records.
    const active = new Set((await cloudRecords(host.store, id, ranges.active(id))).map((r) => r.kind));
    expect([...active].sort()).toEqual(['eci', 'ee', 'eid', 'ent', 'kid', 'meta', 'rs', 'sch']);
  });

  it('a key outside the cloud, or of no known kind, says nothing', () => {
    const id = 'C0000AAAAAAAAAAAAAAAA';
    expect(parseCloudKey(id, keys.meta('C0000BBBBBBBBBBBBBBBB'))).toBeUndefined();
    expect(parseCloudKey(id, `c!${id}!nothing`)).toBeUndefined();
    expect(parseCloudKey(id, `c!${id}!what!ever`)).toBeUndefined();
    expect(parseCloudKey(id, keys.meta(id))).toEqual({ kind: 'meta' });
    expect(parseCloudKey(id, keys.entity(id, 'r.s', 'name!with!bangs'))).toEqual({ kind: 'ent', rid: 'r.s', name: 'name!with!bangs' });
    expect(parseCloudKey(id, keys.log(id, 42))).toEqual({ kind: 'log', seq: 42 });
    expect(eciOfIndexKey(keys.eciIndex('E0000AAAAAAAAAAAAAAAAAAAAAA'))).toBe('E0000AAAAAAAAAAAAAAAAAAAAAA');
    // A cloud's range holds exactly the keys that start with its prefix.
    const range = ranges.cloud(id);
    for (const k of [keys.meta(id), keys.log(id, 1), keys.idemSeq(id, 3)]) expect(k >= range.gte && k < range.lt).toBe(true);
    for (const k of [keys.meta(`${id}x`), `c!${id}`, keys.eciIndex('E1')]) expect(k >= range.gte && k < range.lt).toBe(false);
  });
});
