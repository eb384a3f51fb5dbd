import { createHash, timingSafeEqual } from 'node:crypto';
import type { Active } from '../clouds/activation.ts';
import { eciOf } from '../clouds/activation.ts';
import type { Committer } from '../store/committer.ts';
import { ClaimCodeExpiredError, InvalidArgsError, UnknownClaimCodeError, SessionInvalidError, SignInFailedError, StoreFailedError } from '../errors.ts';
import { isCloudId, partitionOf, type CloudId, type Eci, type IdGenerator } from '../ids.ts';
import { keys, ranges, type PasskeyRecord, type SessionRecord } from '../store/keys.ts';
import type { Limits } from '../limits.ts';
import type { ClaimCode } from '../ruleset.ts';
import { del, put, type Store, type WriteOp } from '../store/store.ts';
import type { ClaimCodes } from './claim-codes.ts';
import { isFull } from './authority.ts';

/**
 * How a person signs in to a cloud's console (docs/console.md). Everything is a record of the cloud
 * (`~pk!`, `~sess!`, and the sign-in code as a claim code of purpose `signin`), so it moves, exports
 * and is deleted with the cloud; no secret is stored, only its SHA-256.
 *
 * - A **sign-in code** is made by an ECI (`kumo login`) and works once, for `limits.signinCodeMs`,
 *   within a guessing budget of its own (claim-codes.ts). Spending it opens a session carrying that
 *   ECI's authority: never more than the ECI that made the code.
 * - A **session** is a token `cloudId.sid.secret` (the browser keeps it in an HttpOnly cookie). It
 *   expires after `limits.sessionMs`, ends when revoked, and ends when its ECI is deleted.
 * - A **passkey** is registered by a signed-in session and carries that session's ECI; signing in
 *   with it (the signature checked by the console, channels/console/) opens a session of that ECI.
 *   Its signature counter must grow when the authenticator keeps one (a cloned key is refused).
 *
 * Who manages what: a session (or ECI) with the cloud's full authority sees and revokes every
 * session and passkey of the cloud; a narrower one only those of its own ECI.
 */

/** An open session as the host knows it. */
export interface Session {
  cloudId: CloudId;
  sid: string;
  eci: Eci;
  expires: number;
  via: SessionRecord['via'];
}

/** A session just opened, with the token to hand to its browser (shown once). */
export interface OpenedSession extends Session {
  token: string;
}

/** A new passkey, as the console verified it. */
export interface NewPasskey {
  credId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  label: string;
}

/** What a viewer may see of a cloud's access: its sessions and passkeys (no secret, no key). */
export interface AccessView {
  sessions: Array<Omit<SessionRecord, 'hash'> & { sid: string }>;
  passkeys: Array<Omit<PasskeyRecord, 'publicKey'> & { credId: string }>;
}

/** Who asks: a session (its `sid`) or an ECI, of one cloud. */
export interface Viewer {
  cloudId: CloudId;
  eci: Eci;
  sid?: string;
}

const TOKEN = /^(.+)\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const CRED_ID = /^[A-Za-z0-9_-]{16,1364}$/;
const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url');
const hashOf = (secret: string): string => createHash('sha256').update(`kumo session ${secret}`).digest('base64url');

/** The partition of the cloud a session token is for (where a realm routes it); SESSION_INVALID for what is no token. */
export function sessionPartition(token: unknown): number {
  return partitionOf(parseToken(token).cloudId);
}

function parseToken(token: unknown): { cloudId: CloudId; sid: string; secret: string } {
  const m = typeof token === 'string' && token.length < 200 ? TOKEN.exec(token) : null;
  const cloudId = m?.[1] ?? '';
  if (!m || !isCloudId(cloudId)) throw new SessionInvalidError('no session: sign in');
  return { cloudId, sid: m[2]!, secret: m[3]! };
}

/** A passkey's credential id as given: base64url. */
export function checkCredId(credId: unknown): string {
  if (typeof credId !== 'string' || !CRED_ID.test(credId)) throw new InvalidArgsError('a passkey credential id is base64url text');
  return credId;
}

export interface SignInDeps {
  store: Store;
  committer: Committer;
  ids: IdGenerator;
  now: () => number;
  limits: Pick<Limits, 'signinCodeMs' | 'sessionMs' | 'sessionsPerCloud'>;
  claims: ClaimCodes;
  /** Run `task` in the cloud's mailbox, activating the cloud if needed. */
  inCloud<T>(cloudId: CloudId, task: (a: Active) => Promise<T>): Promise<T>;
}

/** Sign-in codes, sessions and passkeys of the host's clouds. */
export class SignIn {
  constructor(private readonly deps: SignInDeps) {}

  /** A new sign-in code for `eci` of the active cloud `a` (earlier codes of that ECI stop working). Call in its mailbox. */
  async codeFor(a: Active, eci: string): Promise<ClaimCode> {
    const info = eciOf(a, eci);
    const { ops, code } = await this.deps.claims.codeOps(a.state.id, info.id, this.deps.limits.signinCodeMs, 'signin');
    await this.write(ops);
    return code;
  }

  /** Spend a sign-in code: a session of its ECI, opened in the batch that spends the code. */
  withCode(code: unknown, label: string): Promise<OpenedSession> {
    return this.deps.claims
      .redeem(code, 'signin', (a, rec) => this.open(a, rec.eci, 'code', label))
      .catch((err: unknown) => {
        if (err instanceof UnknownClaimCodeError) throw new SignInFailedError('this sign-in code is wrong or was used: ask for a new one (kumo login)', { reason: 'unknown-code' });
        if (err instanceof ClaimCodeExpiredError) throw new SignInFailedError('this sign-in code expired: ask for a new one (kumo login)', { reason: 'expired-code' });
        throw err;
      });
  }

  /** A passkey of cloud `cloudId`, to check a signature with; SIGN_IN_FAILED when it has none by that id. */
  async passkey(cloudId: string, credId: string): Promise<PasskeyRecord> {
    const rec = isCloudId(cloudId) ? await this.deps.store.get(keys.passkey(cloudId, checkCredId(credId))) : undefined;
    if (!rec) throw new SignInFailedError('this passkey is not registered for a cloud of this host');
    return rec;
  }

  /** After the console checked a passkey's signature: a session of its ECI, its counter kept in the same batch. */
  withPasskey(cloudId: string, credId: string, counter: number, label: string): Promise<OpenedSession> {
    if (!isCloudId(cloudId)) throw new SignInFailedError('this passkey is not registered for a cloud of this host');
    return this.deps.inCloud(cloudId, async (a) => {
      const k = keys.passkey(cloudId, checkCredId(credId));
      const rec = a.closed ? undefined : await this.deps.store.get(k);
      if (!rec || !a.state.ecis.has(rec.eci)) throw new SignInFailedError('this passkey is not registered for a cloud of this host');
      // An authenticator that counts signatures never goes back: a lower count is a copy of the key.
      if ((counter !== 0 || rec.counter !== 0) && counter <= rec.counter) throw new SignInFailedError('the passkey signed with an old counter (a cloned authenticator?); remove it and register it again');
      const opened = await this.open(a, rec.eci, 'passkey', label);
      await this.write([put(k, { ...rec, counter, lastUsed: this.deps.now() }), ...opened.ops]);
      return opened.value;
    });
  }

  /**
   * The session of a token, checked: its record, its secret (compared in constant time), its
   * expiry, and its ECI still an ECI of its cloud. SESSION_INVALID otherwise.
   */
  async check(token: unknown): Promise<Session> {
    const { cloudId, sid, secret } = parseToken(token);
    const rec = await this.deps.store.get(keys.session(cloudId, sid));
    const given = Buffer.from(hashOf(secret));
    if (!rec || rec.hash.length !== given.length || !timingSafeEqual(given, Buffer.from(rec.hash))) throw new SessionInvalidError('this session ended (signed out or revoked): sign in again');
    if (rec.expires <= this.deps.now()) throw new SessionInvalidError('this session expired: sign in again');
    if ((await this.deps.store.get(keys.eciIndex(rec.eci))) !== cloudId) throw new SessionInvalidError('the ECI of this session was deleted: sign in again');
    return { cloudId, sid, eci: rec.eci, expires: rec.expires, via: rec.via };
  }

  /** The sessions and passkeys `viewer` may see (all of the cloud's with its full authority, else its ECI's). Call in the cloud's mailbox. */
  async view(a: Active, viewer: Viewer): Promise<AccessView> {
    const mine = this.visibleTo(a, viewer);
    const sessions: AccessView['sessions'] = [];
    const passkeys: AccessView['passkeys'] = [];
    for (const [k, rec] of await this.deps.store.entries(ranges.sessions(a.state.id))) {
      const { hash: _, ...rest } = rec;
      if (mine(rec.eci)) sessions.push({ sid: k.slice(k.lastIndexOf('!') + 1), ...rest });
    }
    for (const [k, rec] of await this.deps.store.entries(ranges.passkeys(a.state.id))) {
      const { publicKey: _, ...rest } = rec;
      if (mine(rec.eci)) passkeys.push({ credId: k.slice(k.lastIndexOf('!') + 1), ...rest });
    }
    return { sessions, passkeys };
  }

  /** End session `sid` (or every one `viewer` may see, with `all`); how many ended. Call in the cloud's mailbox. */
  async revoke(a: Active, viewer: Viewer, sid: string): Promise<{ revoked: number }> {
    const { sessions } = await this.view(a, viewer);
    const gone = sessions.filter((s) => sid === 'all' || s.sid === sid);
    if (gone.length === 0) throw new InvalidArgsError(`no session ${JSON.stringify(sid)} that this sign-in may end`);
    await this.write(gone.map((s) => del(keys.session(a.state.id, s.sid))));
    return { revoked: gone.length };
  }

  /** Register a passkey carrying `viewer`'s ECI. Call in the cloud's mailbox. */
  async addPasskey(a: Active, viewer: Viewer, p: NewPasskey): Promise<{ credId: string }> {
    const k = keys.passkey(a.state.id, checkCredId(p.credId));
    if (await this.deps.store.get(k)) throw new InvalidArgsError('this passkey is registered already');
    const rec: PasskeyRecord = { eci: viewer.eci, publicKey: p.publicKey, counter: p.counter, transports: p.transports, created: this.deps.now(), lastUsed: null, label: p.label };
    await this.write([put(k, rec)]);
    return { credId: p.credId };
  }

  /** Remove a passkey `viewer` may see. Call in the cloud's mailbox. */
  async removePasskey(a: Active, viewer: Viewer, credId: string): Promise<{ removed: string }> {
    const { passkeys } = await this.view(a, viewer);
    if (!passkeys.some((p) => p.credId === credId)) throw new InvalidArgsError('no passkey by that id that this sign-in may remove');
    await this.write([del(keys.passkey(a.state.id, credId))]);
    return { removed: credId };
  }

  /** Which records of a cloud `viewer` may see and manage: all with the cloud's full authority, else its own ECI's. */
  private visibleTo(a: Active, viewer: Viewer): (eci: Eci) => boolean {
    const full = isFull(eciOf(a, viewer.eci));
    return (eci) => full || eci === viewer.eci;
  }

  /** The writes that open a session of `eci` in cloud `a` (past the cloud's limit of sessions, the oldest ends), and the session. */
  private async open(a: Active, eci: Eci, via: SessionRecord['via'], label: string): Promise<{ ops: WriteOp[]; value: OpenedSession }> {
    const { ids, now, limits } = this.deps;
    const cloudId = a.state.id;
    const ops: WriteOp[] = [];
    const live = [];
    for (const [k, rec] of await this.deps.store.entries(ranges.sessions(cloudId))) {
      if (rec.expires <= now()) ops.push(del(k));
      else live.push({ k, created: rec.created });
    }
    live.sort((x, y) => x.created - y.created);
    for (const old of live.slice(0, Math.max(0, live.length - limits.sessionsPerCloud + 1))) ops.push(del(old.k));
    const sid = b64(ids.bytes(16));
    const secret = b64(ids.bytes(32));
    const expires = now() + limits.sessionMs;
    ops.push(put(keys.session(cloudId, sid), { hash: hashOf(secret), eci, created: now(), expires, via, label: label.slice(0, 120) }));
    return { ops, value: { cloudId, sid, eci, expires, via, token: `${cloudId}.${sid}.${secret}` } };
  }

  private write(ops: WriteOp[]): Promise<void> {
    return this.deps.committer.commit(ops).catch((err: unknown) => {
      throw StoreFailedError.of(err);
    });
  }
}
