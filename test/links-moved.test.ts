import { describe, expect, it, vi } from 'vitest';
import { post, rootEci, rulesetsDir, startServerProcess, wrangler, type ServerProcess } from './server-harness.ts';

/**
 * Links outliving a move to another provider: three separate `kumo serve` processes (x, y, z; no
 * realm). A cloud on x, linked to a neighbour on x and to a cloud on z, is exported from x with a
 * forwarding address and imported on y. Every link keeps working both ways, and the linked clouds
 * learn the new address (their `Tx_host`).
 */

const SUBS = 'io.picolabs.subscription';
const SPY = `import { on, ruleset } from RULESETS;
export default ruleset('test.spy')
  .rule('hear', { select: on('note', '*'), action: (ctx) => ctx.ent.set('heard', [...(ctx.ent.get('heard') ?? []), ctx.event.type]) })
  .share('heard', (ctx) => ctx.ent.get('heard') ?? [])
  .build();
`;

type Bus = { Id: string; Tx: string | null; Rx: string | null; Tx_role: string | null; Tx_host: string | null };
const patient = { timeout: 15_000, interval: 50 };

const ev = (s: ServerProcess, eci: string, domain: string, type: string, attrs: Record<string, unknown> = {}) => post(`${s.url}/sky/event/${eci}/t-${Math.random().toString(36).slice(2)}/${domain}/${type}`, attrs);
const query = async (s: ServerProcess, eci: string, rid: string, name: string) => (await post(`${s.url}/sky/cloud/${eci}/${rid}/${name}`)).body;
const established = (s: ServerProcess, eci: string) => query(s, eci, SUBS, 'established') as Promise<Bus[]>;
const heard = (s: ServerProcess, eci: string) => query(s, eci, 'test.spy', 'heard') as Promise<string[]>;
const deadLetters = async (s: ServerProcess, eci: string) => ((await (await fetch(`${s.url}/c/${eci}/dead-letters`)).json()) as { deadLetters: Array<{ reason: { code: string } }> }).deadLetters;
const say = (s: ServerProcess, eci: string, role: string, type: string) => ev(s, eci, 'wrangler', 'send_event_on_subs', { Tx_role: role, domain: 'note', type });

async function cloud(s: ServerProcess, name: string): Promise<{ eci: string; wellKnown: string }> {
  const child = await wrangler(s.url, await rootEci(s), 'new_child_request', { name, rids: ['test.spy'] }, 'wrangler:new_child_created');
  return { eci: child.eci, wellKnown: ((await query(s, child.eci, SUBS, 'wellKnown_Rx')) as { id: string }).id };
}

/** `a` on `sa` proposes a link to `b` on `sb` (roles named after the clouds); `b` approves. */
async function link(sa: ServerProcess, a: { eci: string; name: string }, sb: ServerProcess, b: { eci: string; wellKnown: string; name: string }): Promise<void> {
  const r = await ev(sa, a.eci, 'wrangler', 'subscription', { wellKnown_Tx: b.wellKnown, ...(sa === sb ? {} : { Tx_host: sb.url }), Rx_role: a.name, Tx_role: b.name });
  expect(r.status).toBe(200);
  const { Id } = r.body.directives[0].options as Bus;
  await vi.waitFor(async () => expect((await query(sb, b.eci, SUBS, 'inbound')) as Bus[]).toMatchObject([{ Id }]), patient);
  await ev(sb, b.eci, 'wrangler', 'pending_subscription_approval', { Id });
  await vi.waitFor(async () => expect((await established(sa, a.eci)).some((bus) => bus.Id === Id)).toBe(true), patient);
}

async function exportLeaving(s: ServerProcess, eci: string, to: ServerProcess): Promise<Buffer> {
  const res = await fetch(`${s.url}/c/${eci}/export?leave=true&movedTo=${encodeURIComponent(to.url)}`, { method: 'POST' });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

async function importInto(s: ServerProcess, file: Buffer): Promise<{ status: number; body: any }> {
  const res = await fetch(`${s.url}/c/${await rootEci(s)}/import`, { method: 'POST', body: file });
  return { status: res.status, body: await res.json() };
}

describe('links after a cloud moved to another provider', { timeout: 60_000 }, () => {
  it('keep working both ways, with the linked clouds learning its new host, and a neighbour left behind reaching it there', async () => {
    const dir = await rulesetsDir('spy.ts', SPY);
    const [x, y, z] = await Promise.all([0, 1, 2].map(() => startServerProcess({ rulesetsDir: dir })));
    const mover = { ...(await cloud(x!, 'mover')), name: 'mover' };
    const neighbour = { ...(await cloud(x!, 'neighbour')), name: 'neighbour' };
    const far = { ...(await cloud(z!, 'far')), name: 'far' };
    await link(x!, neighbour, x!, mover); // on one host: Tx_host null both ways
    await link(z!, far, x!, mover); // across providers

    const file = await exportLeaving(x!, mover.eci, y!);
    expect(await importInto(y!, file)).toMatchObject({ status: 200, body: { id: expect.any(String) } });
    expect((await post(`${x!.url}/c/${mover.eci}/event/note/ping`)).status).toBe(410);

    // The neighbour (left on x) and the far cloud (on z) still reach the mover, now on y.
    await say(x!, neighbour.eci, 'mover', 'from-neighbour');
    await say(z!, far.eci, 'mover', 'from-far');
    await vi.waitFor(async () => expect((await heard(y!, mover.eci)).sort()).toEqual(['from-far', 'from-neighbour']), patient);
    // They now send to y directly.
    await vi.waitFor(async () => expect((await established(x!, neighbour.eci)).map((b) => b.Tx_host)).toEqual([y!.url]), patient);
    await vi.waitFor(async () => expect((await established(z!, far.eci)).map((b) => b.Tx_host)).toEqual([y!.url]), patient);

    // And the mover reaches both from y: its link to the neighbour goes to x now, the far one is unchanged.
    const moverLinks = await established(y!, mover.eci);
    expect(Object.fromEntries(moverLinks.map((b) => [b.Tx_role, b.Tx_host]))).toEqual({ neighbour: x!.url, far: z!.url });
    await say(y!, mover.eci, 'neighbour', 'to-neighbour');
    await say(y!, mover.eci, 'far', 'to-far');
    await vi.waitFor(async () => expect(await heard(x!, neighbour.eci)).toEqual(['to-neighbour']), patient);
    await vi.waitFor(async () => expect(await heard(z!, far.eci)).toEqual(['to-far']), patient);

    // Nothing became a dead letter on the way.
    for (const [s, eci] of [
      [x!, neighbour.eci],
      [z!, far.eci],
      [y!, mover.eci],
    ] as const) {
      expect(await deadLetters(s, eci)).toEqual([]);
    }
    expect(x!.stderr() + y!.stderr() + z!.stderr()).toBe('');
  });

  it('a forwarding address that loops, or leads where this host may not send, ends as a dead letter saying why', async () => {
    const dir = await rulesetsDir('spy.ts', SPY);
    const [x, y, z] = await Promise.all([startServerProcess({ rulesetsDir: dir }), startServerProcess({ rulesetsDir: dir }), startServerProcess({ rulesetsDir: dir, args: ['--deny-hosts', 'example.com'] })]);
    const a = { ...(await cloud(x, 'a')), name: 'a' };
    const c = { ...(await cloud(x, 'c')), name: 'c' };
    const b = { ...(await cloud(z, 'b')), name: 'b' };
    await link(z, b, x, a);
    await link(z, b, x, c);
    // a goes to y and leaves y for x again without arriving: x and y send each other round.
    expect((await importInto(y, await exportLeaving(x, a.eci, y))).status).toBe(200);
    await exportLeaving(y, a.eci, x);
    // c leaves x for a host z may not reach.
    await exportLeaving(x, c.eci, { url: 'http://example.com' } as ServerProcess);
    await say(z, b.eci, 'a', 'round');
    await say(z, b.eci, 'c', 'away');
    await vi.waitFor(async () => expect((await deadLetters(z, b.eci)).map((l) => l.reason.code).sort()).toEqual(['CLOUD_MOVED', 'DESTINATION_DENIED']), patient);
  });

  it('only the cloud itself may point a link elsewhere: wrangler:eci_moved through an ECI changes nothing', async () => {
    const dir = await rulesetsDir('spy.ts', SPY);
    const [x, z] = await Promise.all([startServerProcess({ rulesetsDir: dir }), startServerProcess({ rulesetsDir: dir })]);
    const a = { ...(await cloud(x, 'a')), name: 'a' };
    const b = { ...(await cloud(z, 'b')), name: 'b' };
    await link(z, b, x, a);
    const [bus] = await established(z, b.eci);
    for (const type of ['eci_moved', 'cloud_imported']) {
      expect((await ev(z, b.eci, 'wrangler', type, { eci: bus!.Tx, host: 'http://evil.example', from: 'http://evil.example' })).status).toBe(200);
    }
    expect(await established(z, b.eci)).toEqual([bus]);
  });
});
