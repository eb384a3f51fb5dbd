import { describe, expect, it } from 'vitest';
import { claimCodePartition, normalizeClaimCode, sessionPartition, type AccessAction, type Host, type OpenedSession } from '../kernel/index.ts';
import { testHost } from './helpers.ts';

/**
 * The kernel's half of the console's sign-in (kernel/capabilities/sign-in.ts), through the host's
 * operations: passkeys and their counters, sessions carried with their cloud.
 */

const PASSKEY = { credId: 'cred-AAAAAAAAAAAAAAAA', publicKey: 'pk', counter: 5, transports: ['internal'], label: 'laptop' };

async function signedIn(host: Host, eci: string): Promise<OpenedSession> {
  const { code } = await host.handle({ op: 'signinCode', eci });
  return host.handle({ op: 'signin', partition: claimCodePartition(normalizeClaimCode(code)), code, label: 'test' });
}

const access = (host: Host, s: OpenedSession, action: AccessAction) => host.handle({ op: 'access', token: s.token, partition: sessionPartition(s.token), action });

describe('passkeys', () => {
  it('a passkey signs in as the ECI of the session that added it; its counter must grow', async () => {
    const { host, root } = await testHost();
    const s = await signedIn(host, root.eci);
    await access(host, s, { do: 'addPasskey', passkey: PASSKEY });
    const kept = await host.handle({ op: 'passkey', partition: sessionPartition(s.token), cloudId: root.cloudId, credId: PASSKEY.credId });
    expect(kept).toMatchObject({ eci: root.eci, publicKey: 'pk', counter: 5, lastUsed: null, label: 'laptop' });
    const again = { op: 'signin', partition: sessionPartition(s.token), label: 'x' } as const;
    await expect(host.handle({ ...again, passkey: { cloudId: root.cloudId, credId: PASSKEY.credId, counter: 5 } })).rejects.toMatchObject({ code: 'SIGN_IN_FAILED', message: expect.stringContaining('cloned') });
    await expect(host.handle({ ...again, passkey: { cloudId: root.cloudId, credId: PASSKEY.credId, counter: 3 } })).rejects.toMatchObject({ code: 'SIGN_IN_FAILED' });
    const opened = await host.handle({ ...again, passkey: { cloudId: root.cloudId, credId: PASSKEY.credId, counter: 6 } });
    expect(opened).toMatchObject({ cloudId: root.cloudId, eci: root.eci, via: 'passkey' });
    expect(await host.handle({ op: 'passkey', partition: 0, cloudId: root.cloudId, credId: PASSKEY.credId })).toMatchObject({ counter: 6, lastUsed: expect.any(Number) });
    // An authenticator that keeps no counter (always 0) signs in every time.
    await access(host, s, { do: 'addPasskey', passkey: { ...PASSKEY, credId: 'cred-BBBBBBBBBBBBBBBB', counter: 0 } });
    for (let i = 0; i < 2; i++) await host.handle({ ...again, passkey: { cloudId: root.cloudId, credId: 'cred-BBBBBBBBBBBBBBBB', counter: 0 } });
    await expect(access(host, s, { do: 'addPasskey', passkey: PASSKEY })).rejects.toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('registered already') });
  });

  it('unknown, removed, or carrying a deleted ECI: refused; bad credential ids are INVALID_ARGS', async () => {
    const { host, root } = await testHost();
    const made = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['tablet'] } });
    const tablet = (made.directives[0]!.options as { id: string }).id;
    const s = await signedIn(host, tablet);
    await access(host, s, { do: 'addPasskey', passkey: PASSKEY });
    const signin = (counter: number) => host.handle({ op: 'signin', partition: 0, label: 'x', passkey: { cloudId: root.cloudId, credId: PASSKEY.credId, counter } });
    expect(await signin(6)).toMatchObject({ eci: tablet });
    await expect(host.handle({ op: 'passkey', partition: 0, cloudId: root.cloudId, credId: 'cred-ZZZZZZZZZZZZZZZZ' })).rejects.toMatchObject({ code: 'SIGN_IN_FAILED' });
    await expect(host.handle({ op: 'passkey', partition: 0, cloudId: 'not a cloud', credId: PASSKEY.credId })).rejects.toMatchObject({ code: 'SIGN_IN_FAILED' });
    await expect(host.handle({ op: 'passkey', partition: 0, cloudId: root.cloudId, credId: 'no/slashes' })).rejects.toMatchObject({ code: 'INVALID_ARGS' });
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci: tablet } });
    await expect(signin(7)).rejects.toMatchObject({ code: 'SIGN_IN_FAILED' });
    await expect(access(host, s, { do: 'check' })).rejects.toMatchObject({ code: 'SESSION_INVALID' });
    // The owner sees the passkey of the deleted ECI and removes it.
    const owner = await signedIn(host, root.eci);
    const seen = (await access(host, owner, { do: 'list' })) as { passkeys: Array<{ credId: string; eci: string }> };
    expect(seen.passkeys).toEqual([expect.objectContaining({ credId: PASSKEY.credId, eci: tablet })]);
    expect(await access(host, owner, { do: 'removePasskey', credId: PASSKEY.credId })).toEqual({ removed: PASSKEY.credId });
    await expect(access(host, owner, { do: 'removePasskey', credId: PASSKEY.credId })).rejects.toMatchObject({ code: 'INVALID_ARGS' });
  });
});

describe('sessions move with their cloud', () => {
  it('a session and a passkey of a cloud exported to another host work there, and no longer here', async () => {
    const a = await testHost({ seed: 1 });
    const b = await testHost({ seed: 2 });
    const kid = (await a.host.event({ eci: a.root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'traveller' } })).directives[0]!.options as { eci: string; id: string };
    const s = await signedIn(a.host, kid.eci);
    await access(a.host, s, { do: 'addPasskey', passkey: PASSKEY });
    const bundle = await a.host.exportCloud(kid.eci, { leave: { movedTo: 'http://elsewhere.example' } });
    await b.host.importCloud(b.root.eci, bundle);
    expect(await access(b.host, s, { do: 'check' })).toMatchObject({ cloudId: kid.id, eci: kid.eci });
    expect(await b.host.handle({ op: 'signin', partition: 0, label: 'x', passkey: { cloudId: kid.id, credId: PASSKEY.credId, counter: 9 } })).toMatchObject({ cloudId: kid.id });
    await expect(access(a.host, s, { do: 'check' })).rejects.toMatchObject({ code: 'SESSION_INVALID' });
  });
});

describe('operations refuse what is not theirs', () => {
  it('an access action of no kind, a sign-in code for an unknown ECI, a revoke by an ECI of nothing', async () => {
    const { host, root } = await testHost();
    const s = await signedIn(host, root.eci);
    await expect(access(host, s, { do: 'nothing' } as never)).rejects.toMatchObject({ code: 'INVALID_ARGS' });
    await expect(host.handle({ op: 'signinCode', eci: 'Enope' })).rejects.toMatchObject({ code: 'UNKNOWN_ECI' });
    await expect(host.handle({ op: 'access', eci: 'Enope', action: { do: 'list' } })).rejects.toMatchObject({ code: 'UNKNOWN_ECI' });
    await expect(host.handle({ op: 'access', token: 'garbage', partition: 0, action: { do: 'list' } })).rejects.toMatchObject({ code: 'SESSION_INVALID' });
    expect(() => sessionPartition('garbage')).toThrow(expect.objectContaining({ code: 'SESSION_INVALID' }));
  });
});
