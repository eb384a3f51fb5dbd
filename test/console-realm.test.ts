import { describe, expect, it } from 'vitest';
import { openNode } from '../channels/open-node.ts';
import { startServer } from '../channels/http/server.ts';
import { ConsoleClient } from './console-harness.ts';
import { newChild } from './fixtures.ts';
import { onCleanup, tempDir } from './helpers.ts';
import { startNats } from './nats-harness.ts';

/** The console in a realm: any host serves it, and signs in to a cloud another host holds. */

async function realmHost(nats: string, name: string) {
  const node = await openNode({ dataDir: await tempDir(), hostId: name, realm: { servers: [nats], partitions: 8 } });
  const server = await startServer({ host: node.host, port: 0, hostname: '127.0.0.1', realm: node.realm });
  onCleanup(async () => {
    await server.stop();
    await node.realm!.stop();
    await node.host.close();
    await node.realm!.close();
  });
  return { ...node, server, root: await node.host.root() };
}

describe('the console in a realm', () => {
  it('signs in at one host to a cloud of another, acts on it there, and the session ends everywhere when revoked', async () => {
    const nats = await startNats();
    const a = await realmHost(nats.url, 'a');
    const b = await realmHost(nats.url, 'b');
    const onB = await newChild(b.host, b.root.eci, 'kid');
    // The code is asked of host a (by ECI: routed to b), and spent at a (by partition: routed to b).
    const made = await fetch(`${a.server.url}/c/${onB.eci}/signin-code`, { method: 'POST' });
    expect(made.status).toBe(200);
    const { code } = (await made.json()) as { code: string };
    const browser = new ConsoleClient(a.server.url);
    const signed = await browser.signIn(code);
    expect(signed.status).toBe(200);
    expect(signed.body).toMatchObject({ cloudId: onB.id, eci: onB.eci });
    expect((await browser.call('event/wrangler/new_child_request', { name: 'grandchild' })).status).toBe(200);
    const kids = (await b.host.query({ eci: onB.eci, rid: 'io.picolabs.wrangler', name: 'children', args: {} })) as Array<{ name: string }>;
    expect(kids.map((k) => k.name)).toEqual(['grandchild']);
    // The same cookie at host b.
    const atB = new ConsoleClient(b.server.url);
    atB.cookie = browser.cookie;
    expect((await atB.call('session')).body).toMatchObject({ cloudId: onB.id });
    expect((await browser.call('signout', {})).status).toBe(200);
    expect((await atB.call('session')).body.error.code).toBe('SESSION_INVALID');
  });
});
