import { describe, expect, it, vi } from 'vitest';
import { DestinationDeniedError, Host, ManualClock, noRemote, ranges, RemoteUnavailableError, seededIds, subscribe, UnknownEciError, type Remote, type RoutedEvent } from '../kernel/index.ts';
import { ruleset, wrangler } from '../rulesets/index.ts';
import { install, rejection } from './fixtures.ts';
import { memoryStore, onCleanup } from './helpers.ts';

/** `out:send {to, host}` sends `msg:hear {n}` to the ECI `to` at the host `host`; `out:where` tells the host's URL. */
const sender = ruleset('test.far-sender')
  .rule('send', { select: 'out:send', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'msg', 'hear', { n: ctx.attrs['n'] }, ctx.attrs['host'] as string) })
  .rule('where', { select: 'out:where', action: (ctx) => ctx.directive('here', { url: ctx.hostUrl ?? null }) })
  .build();

/** A remote that records what it is handed and answers with what the test says. */
function fakeRemote(answer: (url: string, routed: RoutedEvent) => Promise<void> = () => Promise.resolve()) {
  const handed: Array<{ url: string; routed: RoutedEvent }> = [];
  const remote: Remote = {
    destination(url) {
      if (url.includes('denied')) throw new DestinationDeniedError(url);
      return url.replace(/\/+$/, '');
    },
    async deliver(url, routed) {
      handed.push({ url, routed });
      return answer(url, routed);
    },
  };
  return { remote, handed };
}

const FAR = 'E0000AAAAAAAAAAAAAAAAAAAAAA';

/** A host with the sender installed in its root, and the given remote (none: the kernel's default). */
async function farHost(remote?: Remote) {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const host = await Host.open({ store: await memoryStore(), clock, ids: seededIds(3), rulesets: [wrangler, sender], builtins: [wrangler.rid], ...(remote ? { remote } : {}) });
  onCleanup(() => host.close());
  return { host, clock, root: await host.root() };
}

describe('events to hosts of other providers (the kernel seam)', () => {
  it('goes through the outbox to the remote, with the destination kept normalised, and is consumed once taken', async () => {
    const { remote, handed } = fakeRemote();
    const { host, root } = await farHost(remote);
    await install(host, root.eci, 'test.far-sender');
    await host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: FAR, host: 'https://far.example/', n: 1 } });
    await vi.waitFor(() => expect(handed).toHaveLength(1));
    expect(handed[0]).toMatchObject({ url: 'https://far.example', routed: { eci: FAR, event: { domain: 'msg', type: 'hear', attrs: { n: 1 } } } });
    await vi.waitFor(async () => expect(await host.store.keys(ranges.outbox())).toEqual([]));
  });

  it('tries again while the other host is unreachable, by the host clock', async () => {
    let up = false;
    const { remote, handed } = fakeRemote(async () => {
      if (!up) throw new RemoteUnavailableError('down');
    });
    const { host, root, clock } = await farHost(remote);
    await install(host, root.eci, 'test.far-sender');
    const retries: string[] = [];
    const stop = subscribe('retry', (m) => retries.push(m.code));
    await host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: FAR, host: 'https://far.example', n: 1 } });
    await vi.waitFor(() => expect(retries).toEqual(['REMOTE_UNAVAILABLE']));
    up = true;
    host.start(250);
    clock.advance(1000);
    await vi.waitFor(() => expect(handed).toHaveLength(2));
    await vi.waitFor(async () => expect(await host.store.keys(ranges.outbox())).toEqual([]));
    expect(await host.deadLetters(root.eci)).toEqual([]);
    stop();
  });

  it('makes a dead letter, naming the host, of an event the other host refuses', async () => {
    const { remote } = fakeRemote(async (_url, r) => {
      throw new UnknownEciError(r.eci);
    });
    const { host, root } = await farHost(remote);
    await install(host, root.eci, 'test.far-sender');
    await host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: FAR, host: 'https://far.example', n: 1 } });
    await vi.waitFor(async () => expect(await host.deadLetters(root.eci)).toHaveLength(1));
    expect((await host.deadLetters(root.eci))[0]).toMatchObject({ eci: FAR, host: 'https://far.example', reason: { code: 'UNKNOWN_ECI' }, attempts: 1 });
  });

  it('refuses at once, staging nothing, a destination the remote does not allow', async () => {
    const { remote, handed } = fakeRemote();
    const { host, root } = await farHost(remote);
    await install(host, root.eci, 'test.far-sender');
    const err = await rejection(host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: FAR, host: 'https://denied.example', n: 1 } }));
    expect(err).toMatchObject({ code: 'DESTINATION_DENIED', status: 403, details: { rid: 'test.far-sender', rule: 'send' } });
    expect(await rejection(host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: FAR, host: 42, n: 1 } }))).toMatchObject({ code: 'INVALID_ARGS' });
    expect(await host.store.keys(ranges.outbox())).toEqual([]);
    expect(handed).toEqual([]);
  });

  it('a host with no remote reaches no other provider; rules read the host’s URL', async () => {
    const { host, root } = await farHost();
    await install(host, root.eci, 'test.far-sender');
    expect(await rejection(host.event({ eci: root.eci, domain: 'out', type: 'send', attrs: { to: FAR, host: 'https://far.example' } }))).toMatchObject({ code: 'DESTINATION_DENIED' });
    expect((await host.event({ eci: root.eci, domain: 'out', type: 'where' })).directives[0]!.options).toEqual({ url: null });
    host.url = 'https://kumo.example';
    expect((await host.event({ eci: root.eci, domain: 'out', type: 'where' })).directives[0]!.options).toEqual({ url: 'https://kumo.example' });
    await expect(noRemote.deliver('https://x', { eci: FAR, event: { eid: 'e', domain: 'a', type: 'b', attrs: {}, time: 0 } })).rejects.toMatchObject({ code: 'DESTINATION_DENIED' });
  });
});
