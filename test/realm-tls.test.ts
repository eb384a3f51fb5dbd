import { describe, expect, it } from 'vitest';
import { openNode } from '../channels/open-node.ts';
import { counter, install, newChild } from './fixtures.ts';
import { onCleanup, tempDir } from './helpers.ts';
import { freePort, startNats } from './nats-harness.ts';
import { makeCerts } from './tls-certs.ts';
import { runKumo, startServerProcess } from './server-harness.ts';

/**
 * The realm's traffic over TLS: nats-server with a `tls` block (a certificate of a test CA, made
 * with openssl), hosts given that CA. What crosses between hosts (events, attributes, ECIs) is then
 * encrypted; a host refuses a server whose certificate does not verify.
 */

async function realmHost(servers: string, name: string, tls?: { ca?: string }) {
  const node = await openNode({ dataDir: await tempDir(), hostId: name, rulesets: [counter], realm: { servers: [servers], partitions: 8, ...(tls ? { tls } : {}) } });
  onCleanup(async () => {
    await node.realm!.stop();
    await node.host.close();
    await node.realm!.close();
  });
  return { ...node, root: await node.host.root() };
}

describe('a realm over TLS', () => {
  it('two hosts given the CA serve each other’s clouds; a host without it, or with another CA, is refused and says why', async () => {
    const dir = await tempDir();
    const certs = makeCerts(dir);
    const other = makeCerts(dir, 'other');
    const monitor = await freePort();
    const nats = await startNats({ extra: () => `tls { cert_file: "${certs.certFile}", key_file: "${certs.keyFile}" }\nhttp: "127.0.0.1:${monitor}"\n` });
    const a = await realmHost(nats.url, 'a', { ca: certs.ca });
    const b = await realmHost(nats.url.replace('nats://', 'tls://'), 'b', { ca: certs.ca });
    const onB = await newChild(b.host, b.root.eci, 'kid');
    await install(b.host, onB.eci, 'test.counter');
    expect((await a.host.event({ eci: onB.eci, domain: 'counter', type: 'inc', attrs: { by: 2 } })).directives[0]!.options).toEqual({ count: 2 });
    expect(await a.host.query({ eci: onB.eci, rid: 'test.counter', name: 'count' })).toBe(2);
    // The server's own view: both hosts' connections are TLS.
    const connz = (await (await fetch(`http://127.0.0.1:${monitor}/connz`)).json()) as { connections: Array<{ name?: string; tls_version?: string }> };
    const hosts = connz.connections.filter((c) => c.name?.startsWith('kumo host'));
    expect(hosts.map((c) => c.name).sort()).toEqual(['kumo host a', 'kumo host b']);
    expect(hosts.every((c) => typeof c.tls_version === 'string' && c.tls_version.startsWith('1.'))).toBe(true);
    for (const tls of [undefined, {}, { ca: other.ca }]) {
      await expect(realmHost(nats.url, 'c', tls)).rejects.toMatchObject({ code: 'REALM_UNAVAILABLE', message: expect.stringMatching(/the NATS server's certificate does not verify \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\).*--nats-ca FILE/) });
    }
  });

  it('a host told to use TLS refuses a server that offers none', async () => {
    const nats = await startNats();
    await expect(realmHost(nats.url.replace('nats://', 'tls://'), 'a')).rejects.toMatchObject({ code: 'REALM_UNAVAILABLE', message: expect.stringMatching(/TLS/i) });
  });

  it('kumo serve --nats-ca joins over TLS; with another CA it does not start, and says why', async () => {
    const dir = await tempDir();
    const certs = makeCerts(dir);
    const other = makeCerts(dir, 'other');
    const nats = await startNats({ extra: () => `tls { cert_file: "${certs.certFile}", key_file: "${certs.keyFile}" }\n` });
    const host = await startServerProcess({ args: ['--nats', nats.url, '--nats-ca', certs.caFile, '--host-id', 'a', '--partitions', '8'] });
    expect(await (await fetch(`${host.url}/realm`)).json()).toMatchObject({ host: 'a', connected: true });
    await expect(startServerProcess({ args: ['--nats', nats.url, '--nats-ca', other.caFile, '--host-id', 'b'] })).rejects.toThrow(/certificate does not verify/);
    expect(await runKumo(['serve', '--nats-cert', certs.certFile])).toMatchObject({ code: 2, stderr: expect.stringContaining('--nats-cert needs --nats') });
    expect(await runKumo(['serve', '--nats', nats.url, '--nats-cert', certs.certFile])).toMatchObject({ code: 2, stderr: expect.stringContaining('--nats-cert and --nats-key go together') });
  });
});
