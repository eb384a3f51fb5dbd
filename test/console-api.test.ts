import { describe, expect, it } from 'vitest';
import { consoleHost, ConsoleClient } from './console-harness.ts';
import { SoftAuthenticator } from './soft-authenticator.ts';
import { allKeys } from './helpers.ts';
import { keys } from '../kernel/index.ts';

/**
 * The console's sign-in and sessions over real HTTP in front of a host on real LevelDB: the codes,
 * the cookie, CSRF, revocation and expiry, and that a session carries its ECI's authority and no
 * more. (The browser itself: console-browser.test.ts.)
 */

const HOUR = 3_600_000;

const post = (url: string, body: unknown) => fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** A child of the root, and the parent's ECI on it. */
async function child(t: Awaited<ReturnType<typeof consoleHost>>, name: string): Promise<{ eci: string; id: string }> {
  const r = await t.host.event({ eci: t.root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name } });
  return r.directives[0]!.options as { eci: string; id: string };
}

async function childNames(t: Awaited<ReturnType<typeof consoleHost>>, eci: string): Promise<string[]> {
  return ((await t.host.query({ eci, rid: 'io.picolabs.wrangler', name: 'children', args: {} })) as Array<{ name: string }>).map((c) => c.name);
}

describe('signing in with a one-time code', () => {
  it('opens a session in an HttpOnly, SameSite=Strict, Secure cookie that lasts 12 hours, and tells the page its CSRF token', async () => {
    const t = await consoleHost();
    const b = t.browser();
    const r = await b.signIn(await t.code(t.root.eci));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ cloudId: t.root.cloudId, eci: t.root.eci, via: 'code', tags: ['owner', 'system'] });
    expect(r.body.csrf).toMatch(/^[\w-]{43}$/);
    expect(b.setCookie).toMatch(/^kumo_session=[\w.-]+; Path=\/; HttpOnly; SameSite=Strict; Secure; Max-Age=43200$/);
    expect(r.headers.get('access-control-allow-origin')).toBeNull();
    const s = await b.call('session');
    expect(s.status).toBe(200);
    expect(s.body).toMatchObject({ cloudId: t.root.cloudId, sid: r.body.sid, csrf: r.body.csrf });
  });

  it('a wrong code, a used code and an expired code are refused (401 SIGN_IN_FAILED); a malformed one is 400', async () => {
    const t = await consoleHost();
    const code = await t.code(t.root.eci);
    expect((await t.browser().signIn('AAAA-BBBB-CCCC')).body.error).toMatchObject({ code: 'SIGN_IN_FAILED', reason: 'unknown-code' });
    expect((await t.browser().signIn(code)).status).toBe(200);
    const reused = await t.browser().signIn(code);
    expect(reused.status).toBe(401);
    expect(reused.body.error).toMatchObject({ code: 'SIGN_IN_FAILED', reason: 'unknown-code' });
    const late = await t.code(t.root.eci);
    t.clock.advance(10 * 60_000);
    expect((await t.browser().signIn(late)).body.error).toMatchObject({ code: 'SIGN_IN_FAILED', reason: 'expired-code' });
    const bad = await t.browser().signIn('not a code');
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('INVALID_ARGS');
  });

  it('a new code replaces the ECI’s last one; codes of devices and of sign-in are not each other', async () => {
    const t = await consoleHost();
    const first = await t.code(t.root.eci);
    const second = await t.code(t.root.eci);
    expect((await t.browser().signIn(first)).status).toBe(401);
    const device = await t.host.event({ eci: t.root.eci, domain: 'wrangler', type: 'new_device_request', attrs: { name: 'thermo', events: ['sensor'] } });
    const claimCode = (device.directives[0]!.options as { claim: { code: string } }).claim.code;
    expect((await t.browser().signIn(claimCode)).body.error.code).toBe('SIGN_IN_FAILED');
    const claimed = await post(`${t.server.url}/claim`, { code: second });
    expect(claimed.status).toBe(404);
    // Neither attempt spent the other's code.
    expect((await t.browser().signIn(second)).status).toBe(200);
    expect((await post(`${t.server.url}/claim`, { code: claimCode })).status).toBe(200);
  });

  it('sign-in attempts are limited per client: the 21st in a minute is 429 RATE_LIMITED with Retry-After', async () => {
    const t = await consoleHost();
    const b = t.browser();
    for (let i = 0; i < 20; i++) expect((await b.signIn('AAAA-BBBB-CCCC')).status).toBe(401);
    const r = await b.signIn(await t.code(t.root.eci));
    expect(r.status).toBe(429);
    expect(r.body.error.code).toBe('RATE_LIMITED');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    t.clock.advance(60_000);
    expect((await b.signIn(await t.code(t.root.eci))).status).toBe(200);
  });

  it('wrong codes spend a host-wide budget of their own, whatever the client', async () => {
    const t = await consoleHost({ limits: { claimFailuresPerMinute: 3 } });
    for (let i = 0; i < 3; i++) expect((await t.browser().signIn('AAAA-BBBB-CCCC')).status).toBe(401);
    const code = await t.code(t.root.eci);
    expect((await t.browser().signIn(code)).body.error.code).toBe('RATE_LIMITED');
    // Device claims have their own budget.
    expect((await post(`${t.server.url}/claim`, { code: 'AAAA-BBBB-CCCC' })).status).toBe(404);
  });
});

describe('sessions', () => {
  it('no cookie, a tampered cookie, or one naming another cloud: 401 SESSION_INVALID', async () => {
    const t = await consoleHost();
    const kid = await child(t, 'kid');
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    expect((await t.browser().call('session')).body.error.code).toBe('SESSION_INVALID');
    const [cloudId, sid, secret] = b.cookie!.slice('kumo_session='.length).split('.');
    const forged = new ConsoleClient(t.server.url);
    const flipped = `${secret!.slice(0, -1)}${secret!.endsWith('A') ? 'B' : 'A'}`;
    for (const token of [`${cloudId}.${sid}.${flipped}`, `${kid.id}.${sid}.${secret}`, `${cloudId}.${sid}`, 'x'.repeat(300)]) {
      forged.cookie = `kumo_session=${token}`;
      const r = await forged.call('session');
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('SESSION_INVALID');
    }
  });

  it('a session acts as its ECI on its own cloud only: the root’s session changes the root, a child’s the child', async () => {
    const t = await consoleHost();
    const kid = await child(t, 'kid');
    const b = t.browser();
    await b.signIn(await t.code(kid.eci));
    const made = await b.call('event/wrangler/new_child_request', { name: 'grandchild', eci: t.root.eci });
    expect(made.status).toBe(200);
    expect(await childNames(t, kid.eci)).toEqual(['grandchild']);
    expect(await childNames(t, t.root.eci)).toEqual(['kid']);
    const q = await b.call('query/io.picolabs.wrangler/myself', {});
    expect(q.body).toMatchObject({ id: kid.id, name: 'kid' });
  });

  it('signing out ends the session and clears the cookie; the next call is 401', async () => {
    const t = await consoleHost();
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    const kept = b.cookie;
    const out = await b.call('signout', {});
    expect(out.status).toBe(200);
    expect(b.setCookie).toMatch(/^kumo_session=; .*Max-Age=0$/);
    b.cookie = kept; // a copy of the cookie kept from before
    expect((await b.call('session')).body.error.code).toBe('SESSION_INVALID');
    expect((await b.call('event/wrangler/new_child_request', { name: 'late' })).status).toBe(401);
    expect(await childNames(t, t.root.eci)).toEqual([]);
  });

  it('a session expires after 12 hours', async () => {
    const t = await consoleHost();
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    t.clock.advance(12 * HOUR - 1);
    expect((await b.call('session')).status).toBe(200);
    t.clock.advance(1);
    expect((await b.call('session')).body.error).toMatchObject({ code: 'SESSION_INVALID', message: expect.stringContaining('expired') });
  });

  it('revoked from the CLI’s route (one, or all) or from another session; listed with no secret', async () => {
    const t = await consoleHost();
    const [a, b, c] = [t.browser(), t.browser(), t.browser()];
    for (const x of [a, b, c]) await x.signIn(await t.code(t.root.eci));
    const list = (await (await fetch(`${t.server.url}/c/${t.root.eci}/sessions`)).json()) as { sessions: Array<{ sid: string; hash?: string }> };
    expect(list.sessions).toHaveLength(3);
    expect(list.sessions.every((s) => s.hash === undefined)).toBe(true);
    const sidOf = async (x: ConsoleClient) => (await x.call('session')).body.sid as string;
    const sidA = await sidOf(a);
    const byCli = await post(`${t.server.url}/c/${t.root.eci}/sessions/revoke`, { sid: sidA });
    expect(byCli.status).toBe(200);
    expect((await a.call('session')).status).toBe(401);
    expect((await b.call('access/revoke', { sid: await sidOf(c) })).body).toEqual({ revoked: 1 });
    expect((await c.call('session')).status).toBe(401);
    expect((await b.call('access/revoke', { sid: 'nope' })).body.error.code).toBe('INVALID_ARGS');
    expect((await post(`${t.server.url}/c/${t.root.eci}/sessions/revoke`, { sid: 'all' })).status).toBe(200);
    expect((await b.call('session')).status).toBe(401);
  });

  it('deleting the ECI a session carries ends the session', async () => {
    const t = await consoleHost();
    const made = await t.host.event({ eci: t.root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['phone'] } });
    const phone = (made.directives[0]!.options as { id: string }).id;
    const b = t.browser();
    await b.signIn(await t.code(phone));
    expect((await b.call('session')).status).toBe(200);
    await t.host.event({ eci: t.root.eci, domain: 'wrangler', type: 'channel_deletion_request', attrs: { eci: phone } });
    expect((await b.call('session')).body.error.code).toBe('SESSION_INVALID');
  });

  it('a cloud keeps at most its limit of sessions: the oldest ends first', async () => {
    const t = await consoleHost({ limits: { sessionsPerCloud: 2 } });
    const [a, b, c] = [t.browser(), t.browser(), t.browser()];
    for (const x of [a, b, c]) {
      await x.signIn(await t.code(t.root.eci));
      t.clock.advance(1000);
    }
    expect([(await a.call('session')).status, (await b.call('session')).status, (await c.call('session')).status]).toEqual([401, 200, 200]);
  });

  it('the store keeps no session secret and no sign-in code, only their hashes; deleting the cloud deletes its sessions', async () => {
    const t = await consoleHost();
    const kid = await child(t, 'kid');
    const code = await t.code(kid.eci);
    const b = t.browser();
    await b.signIn(await t.code(kid.eci));
    const secret = b.cookie!.split('.')[2]!;
    const dump = async () => {
      const out: string[] = [];
      for (const k of await allKeys(t.host.store)) out.push(k, JSON.stringify(await t.host.store.get(k as never)));
      return out.join('\n');
    };
    const text = await dump();
    expect(text).not.toContain(secret);
    expect(text).not.toContain(code.replace(/-/g, ''));
    expect(text).toContain(`c!${kid.id}!~sess!`);
    await t.host.event({ eci: t.root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { id: kid.id } });
    expect(await dump()).not.toContain(`c!${kid.id}!`);
    expect((await b.call('session')).status).toBe(401);
    expect(keys.session(kid.id, 'x')).toContain('~sess!');
  });
});

describe('CSRF and origin', () => {
  it('a call that changes something without the token, with a wrong one, or from another origin is 403 CSRF_REFUSED and changes nothing', async () => {
    const t = await consoleHost();
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    const token = b.csrf!;
    b.csrf = undefined;
    expect((await b.call('event/wrangler/new_child_request', { name: 'a' })).body.error.code).toBe('CSRF_REFUSED');
    b.csrf = token.slice(0, -1) + (token.endsWith('A') ? 'B' : 'A');
    expect((await b.call('event/wrangler/new_child_request', { name: 'b' })).body.error.code).toBe('CSRF_REFUSED');
    b.csrf = token;
    const foreign = await b.call('event/wrangler/new_child_request', { name: 'c' }, { origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    expect(foreign.body.error.code).toBe('CSRF_REFUSED');
    expect((await b.call('signout', {}, { 'x-kumo-csrf': '' })).body.error.code).toBe('CSRF_REFUSED');
    // Nor may another page sign a browser in (another port of the same host is the same site).
    const forged = await t.browser().call('signin/code', { code: await t.code(t.root.eci) }, { origin: t.server.url.replace(/:\d+$/, ':1') });
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('CSRF_REFUSED');
    expect((await t.browser().call('signin/options', {}, { origin: 'http://evil.example' })).body.error.code).toBe('CSRF_REFUSED');
    expect(await childNames(t, t.root.eci)).toEqual([]);
    expect((await b.call('event/wrangler/new_child_request', { name: 'ok' })).status).toBe(200);
    expect(await childNames(t, t.root.eci)).toEqual(['ok']);
  });

  it('a cross-origin preflight does not allow the CSRF header, and a form post is refused for its type', async () => {
    const t = await consoleHost();
    const pre = await fetch(`${t.server.url}/console/api/event/a/b`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-headers': 'x-kumo-csrf' } });
    expect(pre.headers.get('access-control-allow-headers')).not.toMatch(/x-kumo-csrf/);
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    const form = await fetch(`${t.server.url}/console/api/event/wrangler/new_child_request`, { method: 'POST', headers: { cookie: b.cookie!, 'x-kumo-csrf': b.csrf!, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=x' });
    expect(form.status).toBe(400);
    expect(await childNames(t, t.root.eci)).toEqual([]);
  });
});

describe('a narrow ECI’s console', () => {
  it('can do only what its ECI can: its events and queries, not wrangler’s, not the log, not others’ sessions', async () => {
    const t = await consoleHost();
    const made = await t.host.event({
      eci: t.root.eci,
      domain: 'wrangler',
      type: 'new_channel_request',
      attrs: { tags: ['kiosk'], eventPolicy: { allow: [{ domain: 'test', type: '*' }], deny: [] }, queryPolicy: { allow: [], deny: [] } },
    });
    const kiosk = (made.directives[0]!.options as { id: string }).id;
    const owner = t.browser();
    await owner.signIn(await t.code(t.root.eci));
    const b = t.browser();
    const s = await b.signIn(await t.code(kiosk));
    expect(s.body).toMatchObject({ eci: kiosk, tags: ['kiosk'] });
    expect((await b.call('event/wrangler/new_child_request', { name: 'x' })).body.error.code).toBe('POLICY_DENIED');
    expect((await b.call('query/io.picolabs.wrangler/children', {})).body.error.code).toBe('POLICY_DENIED');
    expect((await b.call('logs')).body.error.code).toBe('POLICY_DENIED');
    expect((await b.call('event/test/ping', {})).status).toBe(200);
    const mine = await b.call('access');
    expect(mine.body.sessions.map((x: { eci: string }) => x.eci)).toEqual([kiosk]);
    const ownerSid = (await owner.call('session')).body.sid;
    expect((await b.call('access/revoke', { sid: ownerSid })).body.error.code).toBe('INVALID_ARGS');
    expect((await owner.call('session')).status).toBe(200);
    // The owner sees and may end every session of the cloud.
    expect((await owner.call('access')).body.sessions).toHaveLength(2);
    expect((await owner.call('access/revoke', { sid: s.body.sid })).body).toEqual({ revoked: 1 });
    expect((await b.call('session')).status).toBe(401);
    expect(await childNames(t, t.root.eci)).toEqual([]);
  });
});

describe('the console’s own refusals', () => {
  it('answers unknown routes 404, bad passkey answers 400 or 401, and its page with a strict content security policy', async () => {
    const t = await consoleHost();
    expect((await t.browser().call('nothing/here')).body.error.code).toBe('UNKNOWN_ROUTE');
    expect((await t.browser().call('query/%E0%A4%A/x', {})).body.error.code).toBe('INVALID_ARGS');
    expect((await t.browser().call('session', undefined, { 'x-http-method-override': 'DELETE' })).body.error.code).toBe('SESSION_INVALID');
    expect((await fetch(`${t.server.url}/console/api/session`, { method: 'PUT' })).status).toBe(404);
    expect((await fetch(`${t.server.url}/console/nothing.js`)).status).toBe(404);
    expect((await t.browser().call('signin/passkey', { response: { id: 'x' } })).body.error.code).toBe('INVALID_ARGS');
    const unknown = {
      id: 'AAAAAAAAAAAAAAAAAAAAAA',
      rawId: 'AAAAAAAAAAAAAAAAAAAAAA',
      type: 'public-key',
      response: { clientDataJSON: 'e30', authenticatorData: 'AA', signature: 'AA', userHandle: Buffer.from(t.root.cloudId).toString('base64url') },
    };
    const r = await t.browser().call('signin/passkey', { response: unknown });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('SIGN_IN_FAILED');
    expect((await t.browser().call('signin/passkey', { response: { ...unknown, response: { ...unknown.response, userHandle: undefined } } })).body.error.code).toBe('SIGN_IN_FAILED');
    const page = await fetch(`${t.server.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    expect(await page.text()).toContain('/console/app.js');
    const js = await fetch(`${t.server.url}/console/app.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect((await js.text()).length).toBeGreaterThan(1000);
  });

  it('a passkey cannot be added without a session, nor with a registration answer to no challenge of this session', async () => {
    const t = await consoleHost();
    expect((await t.browser().call('passkeys/options', {})).body.error.code).toBe('SESSION_INVALID');
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    const fake = {
      id: 'AAAAAAAAAAAAAAAAAAAAAA',
      rawId: 'AAAAAAAAAAAAAAAAAAAAAA',
      type: 'public-key',
      response: { clientDataJSON: Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: 'nope', origin: t.server.url })).toString('base64url'), attestationObject: 'AA' },
    };
    const r = await b.call('passkeys/add', { response: fake });
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('SIGN_IN_FAILED');
    expect((await b.call('access')).body.passkeys).toEqual([]);
  });
});

describe('passkeys over HTTP, with an authenticator in software', () => {
  async function registered() {
    const t = await consoleHost();
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    const auth = new SoftAuthenticator(t.server.url);
    const options = (await b.call('passkeys/options', { name: 'my cloud' })).body;
    expect(options).toMatchObject({ rp: { id: '127.0.0.1', name: 'kumo' }, user: { name: 'my cloud', id: Buffer.from(t.root.cloudId).toString('base64url') }, authenticatorSelection: { residentKey: 'required' }, excludeCredentials: [] });
    const added = await b.call('passkeys/add', { response: auth.create(options) });
    expect(added).toMatchObject({ status: 200, body: { credId: auth.credId } });
    return { ...t, b, auth };
  }

  /** A sign-in with the passkey, its answer changed by `tamper`. */
  async function signInWith(t: Awaited<ReturnType<typeof registered>>, tamper: Parameters<SoftAuthenticator['get']>[1] = {}) {
    const c = t.browser();
    const options = (await c.call('signin/options', {})).body;
    expect(options).toMatchObject({ rpId: '127.0.0.1', allowCredentials: [] });
    return { c, r: await c.call('signin/passkey', { response: t.auth.get(options, tamper) }) };
  }

  it('adds a passkey, then signs in with it as the same ECI; the next options exclude it', async () => {
    const t = await registered();
    const { c, r } = await signInWith(t);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ cloudId: t.root.cloudId, eci: t.root.eci, via: 'passkey' });
    expect(c.setCookie).toMatch(/^kumo_session=.+; HttpOnly; SameSite=Strict; Secure;/);
    const seen = (await c.call('access')).body.passkeys;
    expect(seen).toEqual([expect.objectContaining({ credId: t.auth.credId, eci: t.root.eci, counter: 1, lastUsed: expect.any(Number) })]);
    expect((await t.b.call('passkeys/options', {})).body.excludeCredentials).toEqual([expect.objectContaining({ id: t.auth.credId })]);
  });

  it.each<[string, Parameters<SoftAuthenticator['get']>[1]]>([
    ['another origin', { origin: 'http://evil.example' }],
    ['another relying party', { rpId: 'evil.example' }],
    ['a registration answer', { type: 'webauthn.create' }],
    ['a challenge this console never made', { challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }],
    ['a signature of other data', { badSignature: true }],
    ['no user handle', { userHandle: null }],
    ['the user handle of another cloud', { userHandle: Buffer.from('C0000AAAAAAAAAAAAAAAA').toString('base64url') }],
    ['the user not present', { absent: true }],
  ])('refuses a sign-in with %s (401 SIGN_IN_FAILED), and opens no session', async (_what, tamper) => {
    const t = await registered();
    const { c, r } = await signInWith(t, tamper);
    expect(r.status).toBe(401);
    expect(r.body.error.code).toBe('SIGN_IN_FAILED');
    expect(c.cookie).toBeUndefined();
    expect((await t.b.call('access')).body.sessions).toHaveLength(1);
  });

  it('a challenge answers once; a counter that does not grow is a cloned key', async () => {
    const t = await registered();
    const c = t.browser();
    const options = (await c.call('signin/options', {})).body;
    const answer = t.auth.get(options);
    expect((await c.call('signin/passkey', { response: answer })).status).toBe(200);
    expect((await t.browser().call('signin/passkey', { response: answer })).body.error.code).toBe('SIGN_IN_FAILED');
    const { r } = await signInWith(t, { counter: 1 });
    expect(r.body.error).toMatchObject({ code: 'SIGN_IN_FAILED', message: expect.stringMatching(/counter/) });
    expect((await signInWith(t)).r.status).toBe(200);
  });

  it('registration answers another session’s challenge, another origin, or a sign-in challenge: refused, nothing kept', async () => {
    const t = await registered();
    const other = t.browser();
    await other.signIn(await t.code(t.root.eci));
    const auth = new SoftAuthenticator(t.server.url);
    const theirs = (await other.call('passkeys/options', {})).body;
    expect((await t.b.call('passkeys/add', { response: auth.create(theirs) })).body.error.code).toBe('SIGN_IN_FAILED');
    const mine = (await t.b.call('passkeys/options', {})).body;
    expect((await t.b.call('passkeys/add', { response: auth.create(mine, { origin: 'http://evil.example' }) })).body.error.code).toBe('SIGN_IN_FAILED');
    const signin = (await t.browser().call('signin/options', {})).body;
    expect((await t.b.call('passkeys/add', { response: auth.create({ ...mine, challenge: signin.challenge }) })).body.error.code).toBe('SIGN_IN_FAILED');
    expect((await t.b.call('access')).body.passkeys).toHaveLength(1);
  });

  it('a passkey added by a narrow session signs in as that narrow ECI; removed, it signs in no more', async () => {
    const t = await consoleHost();
    const made = await t.host.event({ eci: t.root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['kiosk'], eventPolicy: { allow: [{ domain: 'test', type: '*' }], deny: [] }, queryPolicy: { allow: [], deny: [] } } });
    const kiosk = (made.directives[0]!.options as { id: string }).id;
    const b = t.browser();
    await b.signIn(await t.code(kiosk));
    const auth = new SoftAuthenticator(t.server.url);
    await b.call('passkeys/add', { response: auth.create((await b.call('passkeys/options', {})).body) });
    const c = t.browser();
    const r = await c.call('signin/passkey', { response: auth.get((await c.call('signin/options', {})).body) });
    expect(r.body).toMatchObject({ eci: kiosk, tags: ['kiosk'], via: 'passkey' });
    expect((await c.call('event/wrangler/new_child_request', { name: 'x' })).body.error.code).toBe('POLICY_DENIED');
    expect((await c.call('passkeys/remove', { credId: auth.credId })).body).toEqual({ removed: auth.credId });
    const again = await t.browser().call('signin/passkey', { response: auth.get((await t.browser().call('signin/options', {})).body) });
    expect(again.body.error.code).toBe('SIGN_IN_FAILED');
  });
});

describe('every call of the console API, by its guard', () => {
  it('each call that changes something refuses a session without its CSRF token; each read needs the session only', async () => {
    const t = await consoleHost();
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    const token = b.csrf!;
    b.csrf = undefined;
    for (const path of ['signout', 'access/revoke', 'passkeys/options', 'passkeys/add', 'passkeys/remove', 'event/a/b', 'query/io.picolabs.wrangler/name']) {
      const r = await b.call(path, {});
      expect([path, r.status, r.body.error.code]).toEqual([path, 403, 'CSRF_REFUSED']);
    }
    for (const path of ['session', 'access', 'logs', 'dead-letters']) expect([path, (await b.call(path)).status]).toEqual([path, 200]);
    for (const path of ['session', 'access', 'logs', 'logs/follow', 'dead-letters']) expect([path, (await t.browser().call(path)).body.error.code]).toEqual([path, 'SESSION_INVALID']);
    b.csrf = token;
    expect((await b.call('signout', {})).body).toEqual({ signedOut: true });
  });

  it('reads the log (with a limit), follows it live, and lists dead letters as the session’s ECI', async () => {
    const t = await consoleHost();
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    await b.call('event/wrangler/new_child_request', { name: 'one' });
    await b.call('event/wrangler/new_child_request', { name: 'two' });
    const logs = await b.call('logs?limit=1');
    expect(logs.body.entries).toHaveLength(1);
    expect(logs.body.entries[0]).toMatchObject({ domain: 'wrangler', type: 'new_child_request' });
    expect((await b.call('logs?limit=0')).body.error.code).toBe('INVALID_ARGS');
    expect((await b.call('logs?limit=x')).body.error.code).toBe('INVALID_ARGS');
    expect((await b.call('dead-letters')).body).toEqual({ deadLetters: [] });
    const stream = await fetch(`${t.server.url}/console/api/logs/follow?limit=1`, { headers: { cookie: b.cookie! } });
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = stream.body!.getReader();
    let text = '';
    const until = async (what: RegExp) => {
      while (!what.test(text)) text += new TextDecoder().decode((await reader.read()).value);
    };
    await until(/"type":"new_child_request"/);
    await t.host.event({ eci: t.root.eci, domain: 'live', type: 'ping', attrs: {} });
    await until(/"domain":"live","type":"ping"/);
    await reader.cancel();
  });

  it('a passkey challenge lapses after five minutes', async () => {
    const t = await consoleHost();
    const b = t.browser();
    await b.signIn(await t.code(t.root.eci));
    const auth = new SoftAuthenticator(t.server.url);
    const options = (await b.call('passkeys/options', {})).body;
    t.clock.advance(5 * 60_000);
    expect((await b.call('passkeys/add', { response: auth.create(options) })).body.error.code).toBe('SIGN_IN_FAILED');
    const fresh = (await b.call('passkeys/options', {})).body;
    t.clock.advance(5 * 60_000 - 1);
    expect((await b.call('passkeys/add', { response: auth.create(fresh) })).status).toBe(200);
    const signin = (await t.browser().call('signin/options', {})).body;
    t.clock.advance(5 * 60_000);
    expect((await t.browser().call('signin/passkey', { response: auth.get(signin) })).body.error.code).toBe('SIGN_IN_FAILED');
  });
});
