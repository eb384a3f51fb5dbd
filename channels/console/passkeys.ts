import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type AuthenticatorTransportFuture,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { InvalidArgsError, SignInFailedError, type NewPasskey, type PasskeyRecord } from '../../kernel/index.ts';

/**
 * WebAuthn for the console (docs/console.md), with `@simplewebauthn/server`: the options a browser
 * needs to make or use a passkey, and the checks of what it answers. Challenges are random, kept
 * here for `CHALLENGE_MS`, bound to what they were made for (signing in, or adding a passkey to one
 * session) and good for one answer. The relying party is the console's origin (its host name).
 */

const CHALLENGE_MS = 5 * 60_000;
/** Challenges waiting at once, at most: past it the oldest go (each is also short-lived). */
const MAX_CHALLENGES = 10_000;

/** Where the console is served: the origin browsers show, and its host name (the relying party). */
export interface RelyingParty {
  origin: string;
  rpId: string;
}

/** A passkey of a cloud, found by what the browser answered (its user handle is the cloud's id). */
export type FindPasskey = (cloudId: string, credId: string) => Promise<PasskeyRecord>;

export class Passkeys {
  /** challenge → what it is for ('signin', or the session id adding a passkey) and when it lapses. */
  private readonly challenges = new Map<string, { for: string; until: number }>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Options to make a passkey for cloud `cloudId` (named `name` in the authenticator), in session `sid`. */
  async registration(rp: RelyingParty, sid: string, cloudId: string, name: string, existing: string[]): Promise<unknown> {
    const options = await generateRegistrationOptions({
      rpName: 'kumo',
      rpID: rp.rpId,
      userName: name,
      userID: new TextEncoder().encode(cloudId),
      attestationType: 'none',
      excludeCredentials: existing.map((id) => ({ id })),
      authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
    });
    this.remember(options.challenge, sid);
    return options;
  }

  /** Check a new passkey's answer to a challenge of session `sid`: the passkey to keep. SIGN_IN_FAILED when it does not verify. */
  async register(rp: RelyingParty, sid: string, response: unknown, label: string): Promise<NewPasskey> {
    const answer = shaped<RegistrationResponseJSON>(response);
    const verified = await verifyRegistrationResponse({ response: answer, expectedChallenge: (c) => this.spend(c, sid), expectedOrigin: rp.origin, expectedRPID: rp.rpId, requireUserVerification: false }).catch(refused);
    if (!verified.verified) throw new SignInFailedError('the passkey did not verify');
    const { credential } = verified.registrationInfo;
    return { credId: credential.id, publicKey: Buffer.from(credential.publicKey).toString('base64url'), counter: credential.counter, transports: credential.transports ?? [], label };
  }

  /** Options to sign in with any passkey of this relying party (the browser offers the ones it has). */
  async authentication(rp: RelyingParty): Promise<unknown> {
    const options = await generateAuthenticationOptions({ rpID: rp.rpId, userVerification: 'preferred', allowCredentials: [] });
    this.remember(options.challenge, 'signin');
    return options;
  }

  /** Check a sign-in answer: the cloud, the passkey and the counter it signed with. SIGN_IN_FAILED when it does not verify. */
  async authenticate(rp: RelyingParty, response: unknown, find: FindPasskey): Promise<{ cloudId: string; credId: string; counter: number }> {
    const answer = shaped<AuthenticationResponseJSON>(response);
    const handle = answer.response.userHandle;
    if (typeof handle !== 'string') throw new SignInFailedError('the passkey gave no user handle: it was not made by this console');
    const cloudId = Buffer.from(handle, 'base64url').toString('utf8');
    const pk = await find(cloudId, answer.id);
    const credential = { id: answer.id, publicKey: new Uint8Array(Buffer.from(pk.publicKey, 'base64url')), counter: pk.counter, transports: pk.transports as AuthenticatorTransportFuture[] };
    const verified = await verifyAuthenticationResponse({ response: answer, expectedChallenge: (c) => this.spend(c, 'signin'), expectedOrigin: rp.origin, expectedRPID: rp.rpId, credential, requireUserVerification: false }).catch(refused);
    if (!verified.verified) throw new SignInFailedError('the passkey signature did not verify');
    return { cloudId, credId: answer.id, counter: verified.authenticationInfo.newCounter };
  }

  /** Keep a challenge the library made (32 random bytes, base64url, as the browser will sign it) for `purpose`. */
  private remember(challenge: string, purpose: string): void {
    const now = this.now();
    for (const [c, v] of this.challenges) {
      if (v.until > now && this.challenges.size < MAX_CHALLENGES) break;
      this.challenges.delete(c); // oldest first: the map keeps insertion order
    }
    this.challenges.set(challenge, { for: purpose, until: now + CHALLENGE_MS });
  }

  /** Is `challenge` one this console made for `purpose`, still fresh? It is spent either way. */
  private spend(challenge: string, purpose: string): boolean {
    const found = this.challenges.get(challenge);
    this.challenges.delete(challenge);
    return found !== undefined && found.for === purpose && found.until > this.now();
  }
}

/** What a browser sent, with the shape both answers share (the library checks the rest). */
function shaped<T>(response: unknown): T {
  const r = response as { id?: unknown; rawId?: unknown; type?: unknown; response?: unknown } | null;
  if (typeof r !== 'object' || r === null || typeof r.id !== 'string' || typeof r.rawId !== 'string' || r.type !== 'public-key' || typeof r.response !== 'object' || r.response === null) {
    throw new InvalidArgsError('a passkey answer is the JSON of a PublicKeyCredential (id, rawId, type "public-key", response)');
  }
  return r as T;
}

/** The library's refusal (a wrong challenge, origin, signature…) as the console's. */
function refused(err: unknown): never {
  throw err instanceof SignInFailedError || err instanceof InvalidArgsError ? err : new SignInFailedError(`the passkey did not verify: ${err instanceof Error ? err.message : String(err)}`);
}
