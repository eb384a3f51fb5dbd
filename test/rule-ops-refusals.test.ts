import { describe, expect, it } from 'vitest';
import { ruleset } from '../rulesets/index.ts';
import { install, newChild } from './fixtures.ts';
import { testHost } from './helpers.ts';

/**
 * What a rule's context refuses, and how it says so: each operation given what it cannot take
 * answers its own code and message, and the episode that catches it writes what it did before.
 */

/**
 * `op:try {op, args}` calls `ctx[op](...args)` and answers `ok` with its result or `refused` with
 * the error; `op:try {op, args, big}` first adds a body of `big` characters to the request in args.
 */
const trier = ruleset('test.trier')
  .rule('try', {
    select: 'op:try',
    async action(ctx) {
      const { op, args, big } = ctx.attrs as { op: string; args: Array<Record<string, unknown>>; big?: number };
      if (big !== undefined) args[0]!['body'] = 'x'.repeat(big);
      try {
        const out: unknown = await (ctx as unknown as Record<string, (...a: unknown[]) => unknown>)[op]!(...args);
        ctx.directive('ok', { out: out ?? null });
      } catch (err) {
        const e = err as { code?: string; message?: string };
        ctx.directive('refused', { code: e.code ?? null, message: e.message ?? '' });
      }
    },
  })
  .build();

/** A ruleset that declares an ECI of its own (it goes with the ruleset, not on its own). */
const declares = ruleset('test.declares', { ecis: [{ tags: ['mine'], eventPolicy: { allow: [], deny: [] }, queryPolicy: { allow: [], deny: [] } }] }).build();

async function setup() {
  const t = await testHost({ rulesets: [trier, declares], limits: { ecisPerCloud: 8, childrenPerCloud: 2, attrsBytes: 4096 } });
  await install(t.host, t.root.eci, 'test.trier');
  const attempt = async (op: string, args: unknown[], eci = t.root.eci, big?: number) => (await t.host.event({ eci, domain: 'op', type: 'try', attrs: { op, args, ...(big ? { big } : {}) } })).directives[0]!;
  const refused = async (op: string, args: unknown[], eci?: string, big?: number) => {
    const d = await attempt(op, args, eci, big);
    expect([op, d.name]).toEqual([op, 'refused']);
    return d.options as { code: string; message: string };
  };
  const channels = async () => (await t.host.query({ eci: t.root.eci, rid: 'io.picolabs.wrangler', name: 'channels' })) as Array<{ id: string; tags: string[] }>;
  // What a refusal leaves: the cloud's children by name.
  const children = async () => ((await t.host.query({ eci: t.root.eci, rid: 'io.picolabs.wrangler', name: 'children' })) as Array<{ name: string }>).map((c) => c.name);
  return { ...t, attempt, refused, channels, children };
}

describe("a rule's operations refuse what they cannot take, each with its code and message", () => {
  it('installs, uninstalls and revokes only what exists and may change', async () => {
    const { refused } = await setup();
    expect(await refused('install', [5])).toEqual({ code: 'UNKNOWN_RULESET', message: 'ruleset "5" is not registered or not installed' });
    expect(await refused('install', ['no.such'])).toEqual({ code: 'UNKNOWN_RULESET', message: 'ruleset "no.such" is not registered or not installed' });
    expect(await refused('uninstall', ['io.picolabs.wrangler'])).toEqual({ code: 'INVALID_ARGS', message: 'io.picolabs.wrangler is built in and cannot be uninstalled' });
    expect(await refused('revoke', ['test.trier', 'send'])).toEqual({ code: 'INVALID_ARGS', message: 'test.trier is not an app: only what an app was granted can be revoked' });
    expect(await refused('revoke', ['no.such', 'send'])).toEqual({ code: 'UNKNOWN_RULESET', message: 'ruleset "no.such" is not registered or not installed' });
  });

  it('makes ECIs and children within the limits, and deletes only the ECIs that are the cloud’s own to delete', async () => {
    const { refused, attempt, channels, children, host, root } = await setup();
    const start = (await channels()).length;
    for (let i = start; i < 8; i++) expect((await attempt('newEci', [{ tags: [`t${i}`] }])).name).toBe('ok');
    expect(await refused('newEci', [{ tags: ['one-too-many'] }])).toEqual({ code: 'LIMIT_EXCEEDED', message: 'a cloud may have at most 8 ECIs' });
    expect(await channels()).toHaveLength(8);
    await newChild(host, root.eci, 'kid');
    expect(await refused('newChild', ['kid'])).toEqual({ code: 'DUPLICATE_NAME', message: 'cloud root already has a child named "kid"' });
    await newChild(host, root.eci, 'kid2');
    expect(await refused('newChild', ['kid3'])).toEqual({ code: 'LIMIT_EXCEEDED', message: 'a cloud may have at most 2 children' });
    expect(await children()).toEqual(['kid', 'kid2']);
    expect(await refused('deleteEci', [5])).toEqual({ code: 'UNKNOWN_ECI', message: 'cloud root has no ECI 5' });
    const system = (await channels()).find((c) => c.tags.includes('system'))!;
    expect(await refused('deleteEci', [system.id])).toEqual({ code: 'INVALID_ARGS', message: `ECI ${system.id} is a system channel and cannot be deleted` });
    expect((await channels()).map((c) => c.id)).toContain(system.id);
  });

  it('deletes an ECI a ruleset declared only with the ruleset', async () => {
    const { refused, channels, host, root } = await setup();
    await install(host, root.eci, 'test.declares');
    const mine = (await channels()).find((c) => c.tags.includes('mine'))!;
    expect(await refused('deleteEci', [mine.id])).toEqual({ code: 'INVALID_ARGS', message: `ECI ${mine.id} belongs to ruleset test.declares, and goes when it is uninstalled` });
  });

  it('makes devices, claim codes and moves only with the authority they need, from inputs that make sense', async () => {
    const { refused, attempt, children, host, root } = await setup();
    expect(await refused('newDevice', ['d1', { rids: 'test.trier' }])).toEqual({ code: 'INVALID_ARGS', message: 'rids must be an array of rids' });
    expect(await refused('newDevice', ['d1', { events: ['wrangler'] }])).toEqual({ code: 'INVALID_ARGS', message: 'a device may not send wrangler events (they manage its cloud)' });
    const made = (await attempt('newDevice', ['d1', { rids: ['test.trier'] }])).options['out'] as { device: { events: string[]; rids: string[] } };
    expect(made.device).toMatchObject({ events: ['op'], rids: ['test.trier'] });
    expect(await refused('newClaimCode', ['E-nothing'])).toEqual({ code: 'UNKNOWN_ECI', message: 'cloud root has no ECI "E-nothing"' });
    expect(await refused('moveTo', [''])).toEqual({ code: 'INVALID_ARGS', message: 'a move needs the id of the host to move to' });
    // Through an ECI that may send op events and nothing more: not the owner's full authority.
    const narrow = (await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['narrow'], eventPolicy: { allow: [{ domain: 'op', name: '*' }], deny: [] } } })).directives[0]!.options as {
      id: string;
    };
    expect(await refused('newDevice', ['d2', { rids: ['test.trier'] }], narrow.id)).toEqual({ code: 'POLICY_DENIED', message: expect.stringContaining('making a device (that needs the full authority of the owner)') });
    expect(await children()).toEqual(['d1']);
    expect(await refused('moveTo', ['elsewhere'], narrow.id)).toEqual({ code: 'POLICY_DENIED', message: expect.stringContaining('moving the cloud (that needs its full authority)') });
    const wide = (await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['wide'] } })).directives[0]!.options as { id: string };
    // The ECIs are withheld from the message: the asking ECI may not know them.
    expect(await refused('newClaimCode', [wide.id], narrow.id)).toEqual({ code: 'POLICY_DENIED', message: 'the policy of ECI [ECI withheld] does not allow a claim code for ECI [ECI withheld], which may do more than the ECI asking' });
    expect(await refused('newClaimCode', [root.eci])).toEqual({ code: 'INVALID_ARGS', message: `ECI ${root.eci} is a system channel: it cannot be claimed` });
  });

  it('makes HTTP requests only of a well-formed request, within the size of attrs', async () => {
    const { refused } = await setup();
    const cases: Array<[unknown, string, string]> = [
      ['http://example.com/', 'INVALID_ARGS', 'an HTTP request is {url, method, headers, body}'],
      [{ url: 'not a url' }, 'INVALID_ARGS', '"not a url" is not a URL'],
      [{ url: 'ftp://example.com/' }, 'INVALID_ARGS', 'an HTTP request goes to an https: or http: URL'],
      [{ url: 'http://example.com/', method: 'TRACE' }, 'INVALID_ARGS', 'an HTTP method is one of GET, HEAD, POST, PUT, PATCH, DELETE'],
      [{ url: 'http://example.com/', headers: { a: 1 } }, 'INVALID_ARGS', 'HTTP headers are an object of strings'],
      [{ url: 'http://example.com/', body: { a: 1 } }, 'INVALID_ARGS', 'an HTTP body is a string'],
    ];
    for (const [request, code, message] of cases) expect(await refused('http', [request])).toEqual({ code, message });
    expect(await refused('http', [{ url: 'http://example.com/', method: 'POST' }], undefined, 5000)).toEqual({ code: 'PAYLOAD_TOO_LARGE', message: 'an HTTP body may be at most 4096 bytes' });
  });

  it('pushes and sends only to what exists, named as they must be', async () => {
    const { refused, root } = await setup();
    expect(await refused('push', ['E-nothing', 'n', {}])).toEqual({ code: 'UNKNOWN_ECI', message: 'cloud root has no ECI "E-nothing" to push to' });
    expect(await refused('push', [root.eci, '', {}])).toEqual({ code: 'INVALID_ARGS', message: 'a push needs a name' });
    expect(await refused('send', [root.eci, 'a', 'b', {}, 5])).toEqual({ code: 'INVALID_ARGS', message: 'the host of a send is a base URL' });
  });
});
