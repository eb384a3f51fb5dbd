import { describe, expect, it } from 'vitest';
import { counter, install, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

describe('ECI policies on a host', () => {
  it('lets an ECI send only the events and call only the functions its policy allows', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    await install(host, root.eci, 'test.counter');
    const made = await host.event({
      eci: root.eci,
      domain: 'wrangler',
      type: 'new_channel_request',
      attrs: {
        tags: ['sensor'],
        eventPolicy: { allow: [{ domain: 'counter', name: '*' }], deny: [{ domain: 'counter', name: 'reset' }] },
        queryPolicy: { allow: [{ rid: 'test.counter', name: 'count' }] },
      },
    });
    const channel = made.directives[0]!.options as { id: string; tags: string[] };
    expect(channel.tags).toEqual(['sensor']);
    const eci = channel.id;

    expect((await host.event({ eci, domain: 'counter', type: 'inc' })).directives[0]!.options).toEqual({ count: 1 });

    const denied = await rejection(host.event({ eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'x' } }));
    expect(denied).toMatchObject({ code: 'POLICY_DENIED', status: 403 });
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'children' })).toEqual([]);
    expect((await rejection(host.event({ eci, domain: 'counter', type: 'reset' }))).code).toBe('POLICY_DENIED');

    expect(await host.query({ eci, rid: 'test.counter', name: 'count' })).toBe(1);
    expect((await rejection(host.query({ eci, rid: 'io.picolabs.wrangler', name: 'channels' }))).code).toBe('POLICY_DENIED');
  });

  it('reports unknown ECIs, rulesets and functions, and unshared functions, with their codes', async () => {
    const { host, root } = await testHost({ rulesets: [counter] });
    expect(await rejection(host.event({ eci: 'E0000nope', domain: 'a', type: 'b' }))).toMatchObject({ code: 'UNKNOWN_ECI', status: 404 });
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'count' }))).toMatchObject({ code: 'UNKNOWN_RULESET', status: 404 });
    await install(host, root.eci, 'test.counter');
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'nope' }))).toMatchObject({ code: 'UNKNOWN_FUNCTION', status: 404 });
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'secret' }))).toMatchObject({ code: 'NOT_SHARED', status: 403 });
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'constructor' }))).toMatchObject({ code: 'UNKNOWN_FUNCTION' });
    expect(await rejection(host.query({ eci: root.eci, rid: 'test.counter', name: 'count', args: [1] }))).toMatchObject({ code: 'INVALID_ARGS', status: 400 });
  });

  it('rejects malformed events with INVALID_EVENT and oversized attrs with PAYLOAD_TOO_LARGE, changing nothing', async () => {
    const { host, root } = await testHost({ rulesets: [counter], limits: { attrsBytes: 1024 } });
    await install(host, root.eci, 'test.counter');
    const bad = [
      { eci: root.eci, domain: 'counter', type: 'in c' },
      { eci: root.eci, domain: '', type: 'inc' },
      { eci: root.eci, domain: 'counter', type: 'inc', attrs: [1, 2] },
      { eci: root.eci, domain: 'counter', type: 'inc', attrs: 'x' },
      { eci: root.eci, domain: 'counter', type: 'inc', eid: 'a/b' },
      { eci: root.eci, domain: 'counter', type: 'inc', attrs: JSON.parse('{"deep": [{"__proto__": {"by": 5}}]}') },
    ];
    for (const e of bad) expect(await rejection(host.event(e as never))).toMatchObject({ code: 'INVALID_EVENT', status: 400 });
    expect(await rejection(host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { big: 'x'.repeat(2000) } }))).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', status: 413 });
    expect(await rejection(host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 'many' } }))).toMatchObject({
      code: 'INVALID_ATTRS',
      status: 400,
      details: { rid: 'test.counter', rule: 'inc' },
    });
    expect(await host.query({ eci: root.eci, rid: 'test.counter', name: 'count' })).toBe(0);
  });
});
