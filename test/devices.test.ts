import { describe, expect, it } from 'vitest';
import { allKeys, testHost } from './helpers.ts';
import { claimCodePartition, normalizeClaimCode, partitionOf, ranges, type DeviceInfo, type Host } from '../kernel/index.ts';
import temperature from '../examples/temperature-sensor.ts';
import { ruleset } from '../rulesets/index.ts';
import { newChild, rejection } from './fixtures.ts';

/** `wrangler:new_device_request` through `eci`; the directive's options. */
async function addDevice(host: Host, eci: string, attrs: Record<string, unknown>): Promise<DeviceInfo> {
  const r = await host.event({ eci, domain: 'wrangler', type: 'new_device_request', attrs });
  return r.directives.find((d) => d.name === 'wrangler:new_device_created')!.options as unknown as DeviceInfo;
}

const reading = (eci: string, temperature = 20) => ({ eci, domain: 'sensor', type: 'reading', attrs: { temperature } });

describe('provisioning a device', () => {
  it('makes a child cloud with its rulesets and a device ECI that may send only its domains and query only its rulesets', async () => {
    const { host, root } = await testHost({ rulesets: [temperature] });
    const made = await addDevice(host, root.eci, { name: 'thermo', rids: ['example.temperature'] });
    expect(made).toMatchObject({ name: 'thermo', device: { events: ['sensor'], rids: ['example.temperature'] }, claim: { code: expect.stringMatching(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/) } });
    expect(made.claim.expires).toBe(host.clock.now() + 24 * 3_600_000);
    const device = made.device.eci;
    expect(await host.event(reading(device, 21))).toMatchObject({ directives: [{ name: 'recorded' }] });
    expect(await host.query({ eci: device, rid: 'example.temperature', name: 'latest' })).toMatchObject({ temperature: 21 });
    expect(await rejection(host.event({ eci: device, domain: 'wrangler', type: 'new_channel_request', attrs: {} }))).toMatchObject({ code: 'POLICY_DENIED' });
    expect(await rejection(host.query({ eci: device, rid: 'io.picolabs.wrangler', name: 'channels' }))).toMatchObject({ code: 'POLICY_DENIED' });
    // the owner lists it, with what it may send
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'devices' })).toEqual([{ name: 'thermo', id: made.id, eci: made.eci, events: ['sensor'], rids: ['example.temperature'], created: host.clock.now() }]);
    // events named by the owner; wrangler never
    expect((await addDevice(host, root.eci, { name: 'door', events: 'door,motion', expiresIn: 60_000 })).device).toMatchObject({ events: ['door', 'motion'], rids: [] });
    for (const attrs of [{ name: 'x', events: ['wrangler'] }, { name: 'y' }, { name: 'z', events: ['bad domain'] }, { name: 'w', events: ['a'], expiresIn: 10 }]) {
      expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_device_request', attrs }))).toMatchObject({ status: 400 });
    }
  });

  it('hands the ECI over once for its claim code; a used, guessed or expired code is refused', async () => {
    const { host, root, clock } = await testHost({ rulesets: [temperature] });
    const made = await addDevice(host, root.eci, { name: 'thermo', rids: ['example.temperature'] });
    // typed by a person: lower case, no dashes, O for 0 and I or L for 1 all do
    const typed = made.claim.code.toLowerCase().replaceAll('-', '').replaceAll('0', 'o').replaceAll('1', 'l');
    expect(await host.claim(typed)).toEqual({ eci: made.device.eci });
    expect(await rejection(host.claim(made.claim.code))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE', status: 404 });
    const guess = made.claim.code.slice(0, 5) + (made.claim.code[5] === 'A' ? 'B' : 'A') + made.claim.code.slice(6);
    expect(await rejection(host.claim(guess))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
    expect(await rejection(host.claim('not a code'))).toMatchObject({ code: 'INVALID_ARGS', status: 400 });

    const later = await addDevice(host, root.eci, { name: 'late', events: ['sensor'], expiresIn: 60_000 });
    clock.advance(60_000);
    expect(await rejection(host.claim(later.claim.code))).toMatchObject({ code: 'CLAIM_CODE_EXPIRED', status: 410 });
    expect(await rejection(host.claim(later.claim.code))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' }); // and gone
    expect(await host.store.keys(ranges.claims(later.id))).toEqual([]);
  });

  it('gives the ECI to exactly one of two claims of one code', async () => {
    const { host, root } = await testHost({ rulesets: [temperature] });
    const made = await addDevice(host, root.eci, { name: 'thermo', rids: ['example.temperature'] });
    const outcomes = await Promise.all(
      [host.claim(made.claim.code), host.claim(made.claim.code)].map((p) =>
        p.then(
          (r) => r.eci,
          (e: { code: string }) => e.code,
        ),
      ),
    );
    expect(outcomes.sort()).toEqual([made.device.eci, 'UNKNOWN_CLAIM_CODE'].sort());
  });

  it('refuses every claim once too many have failed, until the budget refills', async () => {
    const { host, root, clock } = await testHost({ rulesets: [temperature], limits: { claimFailuresPerMinute: 3 } });
    const made = await addDevice(host, root.eci, { name: 'thermo', rids: ['example.temperature'] });
    for (const guess of ['AAAA-AAAA-AAAA', 'BBBB-BBBB-BBBB', 'CCCC-CCCC-CCCC']) expect(await rejection(host.claim(guess))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
    // a malformed code finds nothing and spends nothing; a real code is refused now, before any lookup
    expect(await rejection(host.claim('nope'))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await rejection(host.claim(made.claim.code))).toMatchObject({ code: 'RATE_LIMITED', status: 429, details: { retryAfter: 20 } });
    clock.advance(20_000);
    expect(await host.claim(made.claim.code)).toEqual({ eci: made.device.eci });
  });

  it('stores a code only as its hash, and carries the partition of the device cloud', async () => {
    const { host, root } = await testHost({ rulesets: [temperature] });
    const made = await addDevice(host, root.eci, { name: 'thermo', rids: ['example.temperature'] });
    const code = normalizeClaimCode(made.claim.code);
    // typed with spaces around it, up to 40 characters in all; longer is not a code
    expect(normalizeClaimCode(` ${made.claim.code.toLowerCase()}`.padEnd(40))).toBe(code);
    expect(() => normalizeClaimCode(made.claim.code.padEnd(41))).toThrow(expect.objectContaining({ code: 'INVALID_ARGS', message: 'a claim code is 12 letters and digits, such as 7K3Q-M9PA-XR2F' }));
    const everything = await host.store.entries({ gte: '', lt: '\uffff' });
    for (const [k, v] of everything) expect(`${k} ${JSON.stringify(v)}`).not.toMatch(new RegExp(`${code}|${made.claim.code}`));
    expect(everything.filter(([k]) => k.startsWith('k!'))).toEqual([[expect.any(String), { cloudId: made.id, eci: made.device.eci, expires: made.claim.expires }]]);
    expect(claimCodePartition(code)).toBe(partitionOf(made.id));
  });

  it('makes a new code for an ECI within the asking ECI authority, ending the old one', async () => {
    const { host, root } = await testHost({ rulesets: [temperature] });
    const made = await addDevice(host, root.eci, { name: 'thermo', rids: ['example.temperature'] });
    const ask = (eci: string, attrs: Record<string, unknown>) => host.event({ eci, domain: 'wrangler', type: 'claim_code_request', attrs });
    const again = (await ask(made.eci, { eci: made.device.eci })).directives[0]!.options as { code: string; eci: string };
    expect(again).toMatchObject({ eci: made.device.eci, code: expect.any(String) });
    expect(await rejection(host.claim(made.claim.code))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
    expect(await host.claim(again.code)).toEqual({ eci: made.device.eci });
    // not for a system ECI; not through an ECI that may do less than the one it would hand over
    expect(await rejection(ask(made.eci, { eci: made.eci }))).toMatchObject({ code: 'INVALID_ARGS' });
    const narrow = await host.event({ eci: made.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { eventPolicy: { allow: [{ domain: 'wrangler', name: 'claim_code_request' }] } } });
    const narrowEci = (narrow.directives[0]!.options as { id: string }).id;
    expect(await rejection(ask(narrowEci, { eci: made.device.eci }))).toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('forgets the device and its codes when its cloud is deleted', async () => {
    const { host, root } = await testHost({ rulesets: [temperature] });
    const made = await addDevice(host, root.eci, { name: 'thermo', rids: ['example.temperature'] });
    await newChild(host, root.eci, 'plain');
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { name: 'thermo' } });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'devices' })).toEqual([]);
    expect((await allKeys(host.store)).filter((k) => k.startsWith('k!') || k.includes(made.id))).toEqual([]);
    expect(await rejection(host.claim(made.claim.code))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
  });

  it('makes codes that last from 1 s to 30 days, 24 h unless the owner says', async () => {
    const { host, root } = await testHost({ rulesets: [temperature] });
    const now = host.clock.now();
    const DAY = 24 * 3_600_000;
    let n = 0;
    const lasting = async (expiresIn: unknown) => (await addDevice(host, root.eci, { name: `d${n++}`, events: ['sensor'], expiresIn })).claim.expires - now;
    expect(await lasting(1000)).toBe(1000);
    expect(await lasting(30 * DAY)).toBe(30 * DAY);
    expect(await lasting('60000')).toBe(60_000);
    expect(await lasting('')).toBe(DAY);
    expect(await lasting(null)).toBe(DAY);
    for (const expiresIn of [999, 30 * DAY + 1, 1500.5, 'soon', -5000]) {
      expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'bad', events: ['sensor'], expiresIn } }))).toMatchObject({
        code: 'INVALID_ARGS',
        message: expect.stringContaining('from 1 s to 30 days'),
      });
    }
  });

  it('may send, by default, the domains its rulesets listen to, never * or wrangler; at most 20', async () => {
    const listener = ruleset('test.listens')
      .rule('a', { select: 'door:open', action: () => undefined })
      .rule('b', { select: 'door:close', action: () => undefined })
      .rule('c', { select: '*:ping', action: () => undefined })
      .rule('d', { select: 'wrangler:ruleset_installed', action: () => undefined })
      .rule('e', { select: 'motion:*', action: () => undefined })
      .build();
    const { host, root } = await testHost({ rulesets: [listener] });
    expect((await addDevice(host, root.eci, { name: 'door', rids: ['test.listens'] })).device.events).toEqual(['door', 'motion']);
    const many = Array.from({ length: 21 }, (_, i) => `d${i}`);
    expect(await rejection(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'x', events: many } }))).toMatchObject({
      code: 'INVALID_ARGS',
      message: expect.stringContaining('1 to 20 event domains'),
    });
    expect((await addDevice(host, root.eci, { name: 'twenty', events: many.slice(1) })).device.events).toHaveLength(20);
  });

  it('spends the guessing budget only on codes that do not work, refilled continuously up to a minute’s worth', async () => {
    const { host, root, clock } = await testHost({ rulesets: [temperature], limits: { claimFailuresPerMinute: 3 } });
    const devices = [];
    for (let i = 0; i < 4; i++) devices.push(await addDevice(host, root.eci, { name: `d${i}`, events: ['sensor'] }));
    for (const d of devices) expect(await host.claim(d.claim.code)).toEqual({ eci: d.device.eci }); // four claims that work, on a budget of three
    const guess = () => rejection(host.claim('AAAA-AAAA-AAAA'));
    clock.advance(60 * 60_000); // a quiet hour refills no more than a minute's worth
    for (let i = 0; i < 3; i++) expect(await guess()).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
    expect(await guess()).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfter: 20 } });
    clock.advance(10_000); // half a token back
    expect(await guess()).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfter: 10 } });
    clock.advance(10_000);
    expect(await guess()).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
    const closed = await testHost({ rulesets: [temperature], limits: { claimFailuresPerMinute: 0 } });
    expect(await rejection(closed.host.claim('AAAA-AAAA-AAAA'))).toMatchObject({ code: 'RATE_LIMITED', details: { retryAfter: 60 } });
  });

  it('a code for one ECI of a cloud leaves the codes of its other ECIs alone; a code whose ECI is gone hands nothing over', async () => {
    const { host, root } = await testHost({ rulesets: [temperature] });
    const made = await addDevice(host, root.eci, { name: 'thermo', events: ['sensor'] });
    const channel = await host.event({ eci: made.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { eventPolicy: { allow: [{ domain: 'sensor', name: '*' }] } } });
    const other = (channel.directives[0]!.options as { id: string }).id;
    const code = async (eci: string) => ((await host.event({ eci: made.eci, domain: 'wrangler', type: 'claim_code_request', attrs: { eci } })).directives[0]!.options as { code: string }).code;
    const forOther = await code(other);
    const forDevice = await code(made.device.eci);
    expect(await host.claim(forOther)).toEqual({ eci: other });
    const again = await code(other);
    await host.event({ eci: made.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci: other } });
    expect(await rejection(host.claim(again))).toMatchObject({ code: 'UNKNOWN_CLAIM_CODE' });
    expect(await host.claim(forDevice)).toEqual({ eci: made.device.eci });
  });
});
