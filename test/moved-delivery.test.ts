import { describe, expect, it, vi } from 'vitest';
import { CloudMovedError, DestinationDeniedError, Host, ManualClock, ranges, seededIds, UnknownEciError, type Limits, type Remote, type RoutedEvent } from '../kernel/index.ts';
import { ruleset, wrangler } from '../rulesets/index.ts';
import { install, newChild } from './fixtures.ts';
import { memoryStore, onCleanup } from './helpers.ts';

/**
 * The outbox following a cloud that moved (410 CLOUD_MOVED with a forwarding address), in the
 * kernel with a stand-in remote: where events go, what is kept, and what the sending cloud hears.
 */

/** `out:send {to, host?, n}` sends `msg:hear {n}`; `wrangler:eci_moved` and `wrangler:cloud_imported` are noted; `heard()` lists n's. */
const sender = ruleset('test.mover-sender')
  .rule('send', {
    select: 'out:send',
    action: (ctx) => (ctx.attrs['host'] === undefined ? ctx.send(String(ctx.attrs['to']), 'msg', 'hear', { n: ctx.attrs['n'] }) : ctx.send(String(ctx.attrs['to']), 'msg', 'hear', { n: ctx.attrs['n'] }, ctx.attrs['host'] as string)),
  })
  .rule('moved', { select: 'wrangler:eci_moved', action: (ctx) => ctx.ent.set('moved', [...((ctx.ent.get('moved') as unknown[] | undefined) ?? []), { ...ctx.attrs, via: ctx.eci ?? null }]) })
  .rule('imported', { select: 'wrangler:cloud_imported', action: (ctx) => ctx.ent.set('imported', ctx.attrs['from']) })
  .rule('hear', { select: 'msg:hear', action: (ctx) => ctx.ent.set('heard', [...((ctx.ent.get('heard') as unknown[] | undefined) ?? []), ctx.attrs['n']]) })
  .share('moved', (ctx) => ctx.ent.get('moved') ?? [])
  .share('imported', (ctx) => ctx.ent.get('imported') ?? null)
  .share('heard', (ctx) => ctx.ent.get('heard') ?? [])
  .build();

const FAR = 'E0000AAAAAAAAAAAAAAAAAAAAAA';

/** A remote whose hosts answer as `answer` says; it records what it is handed. */
function remoteOf(answer: (url: string, routed: RoutedEvent) => Promise<void>) {
  const handed: string[] = [];
  const remote: Remote = {
    destination(url) {
      if (url.includes('denied')) throw new DestinationDeniedError(url);
      return url.replace(/\/+$/, '');
    },
    async deliver(url, routed) {
      handed.push(url);
      return answer(url, routed);
    },
  };
  return { remote, handed };
}

async function open(remote: Remote, url?: string, limits?: Partial<Limits>) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const host = await Host.open({ store: await memoryStore(), clock, ids: seededIds(5), rulesets: [wrangler, sender], builtins: [wrangler.rid], remote, ...(url ? { url } : {}), ...(limits ? { limits } : {}) });
  onCleanup(() => host.close());
  const root = await host.root();
  await install(host, root.eci, 'test.mover-sender');
  const send = (attrs: Record<string, unknown>) => host.event({ eci: root.eci, domain: 'out', type: 'send', attrs });
  const read = (name: string) => host.query({ eci: root.eci, rid: 'test.mover-sender', name });
  return { host, clock, root, send, read };
}

describe('events following a cloud that moved', () => {
  it('go to the forwarding address at once, with what waits behind them, and the sender hears it once, from no ECI', async () => {
    let gate: (() => void) | null = null;
    const { remote, handed } = remoteOf(async (url, r) => {
      if (url === 'https://old.example') {
        if (r.event.attrs['n'] === 1) await new Promise<void>((go) => (gate = go)); // the second waits in the lane
        throw new CloudMovedError(r.eci, 'https://new.example/');
      }
    });
    const { host, send, read } = await open(remote);
    await send({ to: FAR, host: 'https://old.example', n: 1 });
    await send({ to: FAR, host: 'https://old.example', n: 2 });
    await vi.waitFor(() => expect(gate).not.toBeNull());
    gate!();
    await vi.waitFor(async () => expect(await host.store.keys(ranges.outbox())).toEqual([]));
    expect(handed).toEqual(['https://old.example', 'https://new.example', 'https://new.example']);
    await vi.waitFor(async () => expect(await read('moved')).toEqual([{ eci: FAR, host: 'https://new.example', via: null }]));
  });

  it('that loop, or lead where the host may not send, end as dead letters saying why', async () => {
    const { remote, handed } = remoteOf(async (url, r) => {
      if (url === 'https://a.example') throw new CloudMovedError(r.eci, 'https://b.example');
      if (url === 'https://b.example') throw new CloudMovedError(r.eci, 'https://a.example');
      throw new CloudMovedError(r.eci, 'https://denied.example');
    });
    const { root, send, host } = await open(remote);
    await send({ to: FAR, host: 'https://a.example', n: 1 });
    await send({ to: 'E0000BBBBBBBBBBBBBBBBBBBBBB', host: 'https://c.example', n: 2 });
    await vi.waitFor(async () => expect((await host.deadLetters(root.eci)).map((l) => l.reason.code).sort()).toEqual(['CLOUD_MOVED', 'DESTINATION_DENIED']));
    expect(handed.filter((u) => u === 'https://a.example' || u === 'https://b.example')).toHaveLength(6); // the first try and 5 moves
    const loop = (await host.deadLetters(root.eci)).find((l) => l.reason.code === 'CLOUD_MOVED')!;
    expect(loop).toMatchObject({ eci: FAR, host: 'https://b.example' });
  });

  it('that reach a new host not holding the cloud yet are tried again, not buried', async () => {
    let imported = false;
    const { remote, handed } = remoteOf(async (url, r) => {
      if (url === 'https://old.example') throw new CloudMovedError(r.eci, 'https://new.example');
      if (!imported) throw new UnknownEciError(r.eci);
    });
    const { host, root, clock, send } = await open(remote);
    host.start(100);
    await send({ to: FAR, host: 'https://old.example', n: 1 });
    await vi.waitFor(() => expect(handed).toEqual(['https://old.example', 'https://new.example']));
    imported = true;
    clock.advance(1_000);
    await vi.waitFor(async () => expect(await host.store.keys(ranges.outbox())).toEqual([]));
    expect(handed.at(-1)).toBe('https://new.example');
    expect(await host.deadLetters(root.eci)).toEqual([]);
  });

  it('that come back to this host (its own URL) are delivered here', async () => {
    const { remote } = remoteOf(async (_url, r) => {
      throw new CloudMovedError(r.eci, 'https://me.example/');
    });
    const { host, root, send } = await open(remote, 'https://me.example');
    const kid = await newChild(host, root.eci, 'kid');
    await install(host, kid.eci, 'test.mover-sender');
    await send({ to: kid.eci, host: 'https://old.example', n: 7 });
    await vi.waitFor(async () => expect(await host.query({ eci: kid.eci, rid: 'test.mover-sender', name: 'heard' })).toEqual([7]));
    await vi.waitFor(async () => expect(await host.query({ eci: root.eci, rid: 'test.mover-sender', name: 'moved' })).toEqual([{ eci: kid.eci, host: null, via: null }]));
  });

  it('sent back by a host of the realm with a forwarding address go there as new outbox entries, once however often the bounce is heard', async () => {
    const { remote, handed } = remoteOf(() => Promise.resolve());
    const { host, root, read } = await open(remote);
    const event = { eid: 'bounced-1', domain: 'msg', type: 'hear', attrs: { n: 3 }, time: 0 };
    for (let i = 0; i < 2; i++) await host.bounce(root.cloudId, { eci: FAR, event }, { code: 'CLOUD_MOVED', message: 'moved', location: 'https://new.example' });
    await vi.waitFor(() => expect(handed).toEqual(['https://new.example']));
    expect(host.stats().outbox).toBe(0);
    const other = { ...event, eid: 'bounced-2' };
    for (let i = 0; i < 2; i++) await host.bounce(root.cloudId, { eci: FAR, event: other }, { code: 'CLOUD_MOVED', message: 'moved', location: 'https://denied.example' });
    await vi.waitFor(async () => expect((await host.deadLetters(root.eci)).map((l) => l.reason.code)).toEqual(['DESTINATION_DENIED']));
    expect(handed).toEqual(['https://new.example']);
    await vi.waitFor(async () => expect(await read('moved')).toEqual([{ eci: FAR, host: 'https://new.example', via: null }]));
  });

  it('sent back for another reason, or moved with no address, are dead letters, not sent anywhere', async () => {
    const { remote, handed } = remoteOf(() => Promise.resolve());
    const { host, root } = await open(remote);
    const event = (eid: string) => ({ eid, domain: 'msg', type: 'hear', attrs: {}, time: 0 });
    await host.bounce(root.cloudId, { eci: FAR, event: event('gone') }, { code: 'UNKNOWN_ECI', message: 'no such ECI', location: 'https://new.example' });
    await host.bounce(root.cloudId, { eci: FAR, event: event('nowhere') }, { code: 'CLOUD_MOVED', message: 'moved, address unknown' });
    expect((await host.deadLetters(root.eci)).map((l) => [l.event.eid, l.reason.code])).toEqual([
      ['nowhere', 'CLOUD_MOVED'],
      ['gone', 'UNKNOWN_ECI'],
    ]);
    expect([handed, host.stats().outbox]).toEqual([[], 0]);
  });

  it('remembers what it sent on as many times as it keeps dead letters, forgetting the oldest first', async () => {
    const { remote, handed } = remoteOf(() => Promise.resolve());
    const { host, root, clock } = await open(remote, undefined, { deadLetters: 2 });
    const moved = { code: 'CLOUD_MOVED', message: 'moved', location: 'https://new.example' };
    const bounce = async (eid: string) => {
      clock.advance(1_000);
      await host.bounce(root.cloudId, { eci: FAR, event: { eid, domain: 'msg', type: 'hear', attrs: {}, time: 0 } }, moved);
    };
    for (const eid of ['e1', 'e2', 'e3']) await bounce(eid);
    await vi.waitFor(() => expect(handed).toHaveLength(3));
    const remembered = (await host.store.keys(ranges.forwarded(root.cloudId))).map((k) => String(k).split('!').at(-1)).sort();
    expect(remembered).toEqual(['e2', 'e3']);
    // e3 heard again is not sent again; e1, forgotten, is.
    await bounce('e3');
    await bounce('e1');
    await vi.waitFor(() => expect(host.stats().outbox).toBe(0));
    expect(handed).toHaveLength(4);
  });

  it('an imported cloud hears where it came from, and what it had not yet sent to clouds there goes there', async () => {
    const { remote: r1 } = remoteOf(async () => {
      throw new UnknownEciError(FAR);
    });
    const source = await open(r1, 'https://source.example');
    const kid = await newChild(source.host, source.root.eci, 'kid');
    await install(source.host, kid.eci, 'test.mover-sender');
    const target = await newChild(source.host, source.root.eci, 'target');
    const { remote: r2, handed } = remoteOf(() => Promise.resolve());
    const dest = await open(r2, 'https://dest.example');
    const bundle = await source.host.exportCloud(kid.eci, { leave: { movedTo: 'https://dest.example' } });
    expect(bundle.from).toBe('https://source.example');
    // As if it left with an event to a cloud of its old host not delivered yet.
    await dest.host.importCloud(dest.root.eci, { ...bundle, outbox: [{ cloudId: bundle.root, eci: target.eci, event: { eid: 'late', domain: 'msg', type: 'hear', attrs: { n: 1 }, time: 0 }, since: 0 }] });
    await vi.waitFor(() => expect(handed).toEqual(['https://source.example']));
    expect(await dest.host.query({ eci: kid.eci, rid: 'test.mover-sender', name: 'imported' })).toBe('https://source.example');
  });
});
