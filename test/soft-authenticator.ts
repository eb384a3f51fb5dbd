import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';

/**
 * A WebAuthn authenticator in software (ES256, attestation "none"), for testing the console's
 * passkeys without a browser: it answers the options the console gives the way a browser and an
 * authenticator would, and lets a test change what it answers (another origin, an old counter, a
 * signature of other data) to see each refused.
 */

const b64u = (b: Uint8Array): string => Buffer.from(b).toString('base64url');
const sha256 = (b: Uint8Array | string): Buffer => createHash('sha256').update(b).digest();

/** The few CBOR shapes WebAuthn needs: unsigned and negative integers, byte and text strings, maps. */
export function cbor(v: unknown): Buffer {
  const head = (major: number, n: number): Buffer => {
    if (n < 24) return Buffer.from([(major << 5) | n]);
    if (n < 256) return Buffer.from([(major << 5) | 24, n]);
    const b = Buffer.alloc(3);
    b[0] = (major << 5) | 25;
    b.writeUInt16BE(n, 1);
    return b;
  };
  if (typeof v === 'number') return v >= 0 ? head(0, v) : head(1, -1 - v);
  if (typeof v === 'string') return Buffer.concat([head(3, Buffer.byteLength(v)), Buffer.from(v)]);
  if (v instanceof Uint8Array) return Buffer.concat([head(2, v.length), v]);
  if (v instanceof Map) return Buffer.concat([head(5, v.size), ...[...v].flatMap(([k, x]) => [cbor(k), cbor(x)])]);
  if (typeof v === 'object' && v !== null) return cbor(new Map(Object.entries(v)));
  throw new TypeError(`no CBOR for ${typeof v}`);
}

export interface Tamper {
  origin?: string;
  rpId?: string;
  type?: string;
  challenge?: string;
  counter?: number;
  /** Sign something else than what is sent. */
  badSignature?: boolean;
  /** The user handle given on sign-in (default: the one registered). */
  userHandle?: string | null;
  /** The user-present flag off. */
  absent?: boolean;
}

export class SoftAuthenticator {
  readonly credId = b64u(randomBytes(16));
  private readonly keys: { privateKey: KeyObject; publicKey: KeyObject } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private userHandle = '';
  counter = 0;

  constructor(readonly origin: string) {}

  private authData(rpId: string, flags: number, counter: number, attested?: Buffer): Buffer {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  }

  private clientData(type: string, challenge: string, origin: string): Buffer {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /** Answer registration options (`PublicKeyCredentialCreationOptionsJSON`) as navigator.credentials.create would. */
  create(options: { challenge: string; rp: { id: string }; user: { id: string } }, t: Tamper = {}): unknown {
    this.userHandle = options.user.id;
    const jwk = this.keys.publicKey.export({ format: 'jwk' });
    const cose = cbor(
      new Map<number, unknown>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, Buffer.from(jwk.x!, 'base64url')],
        [-3, Buffer.from(jwk.y!, 'base64url')],
      ]),
    );
    const id = Buffer.from(this.credId, 'base64url');
    const idLen = Buffer.alloc(2);
    idLen.writeUInt16BE(id.length);
    const attested = Buffer.concat([Buffer.alloc(16), idLen, id, cose]);
    const authData = this.authData(t.rpId ?? options.rp.id, (t.absent ? 0 : 0x01) | 0x04 | 0x40, t.counter ?? this.counter, attested);
    const clientDataJSON = this.clientData(t.type ?? 'webauthn.create', t.challenge ?? options.challenge, t.origin ?? this.origin);
    return {
      id: this.credId,
      rawId: this.credId,
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), attestationObject: b64u(cbor({ fmt: 'none', attStmt: {}, authData })), transports: ['internal'] },
      clientExtensionResults: {},
    };
  }

  /** Answer sign-in options as navigator.credentials.get would; the counter goes up by one first. */
  get(options: { challenge: string; rpId: string }, t: Tamper = {}): unknown {
    this.counter++;
    const authData = this.authData(t.rpId ?? options.rpId, (t.absent ? 0 : 0x01) | 0x04, t.counter ?? this.counter);
    const clientDataJSON = this.clientData(t.type ?? 'webauthn.get', t.challenge ?? options.challenge, t.origin ?? this.origin);
    const signed = Buffer.concat([authData, sha256(clientDataJSON)]);
    const signature = sign('sha256', t.badSignature ? Buffer.concat([signed, Buffer.from([0])]) : signed, this.keys.privateKey);
    const userHandle = t.userHandle === undefined ? this.userHandle : t.userHandle;
    return {
      id: this.credId,
      rawId: this.credId,
      type: 'public-key',
      response: { clientDataJSON: b64u(clientDataJSON), authenticatorData: b64u(authData), signature: b64u(signature), ...(userHandle === null ? {} : { userHandle }) },
      clientExtensionResults: {},
    };
  }
}
