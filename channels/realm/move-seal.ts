import { createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto';
import { openSealed, sealBytes } from '../../kernel/index.ts';

const INFO = Buffer.from('kumo move v1');

/**
 * Clouds moving between hosts of a realm cross NATS sealed for the receiving host
 * (docs/encryption.md, "Moves"), whether or not NATS runs over TLS. Each host makes an X25519 key
 * pair when it starts and tells the realm its public key with its claim on its id. The sender
 * makes a key pair for each move, derives a key from the two (HKDF-SHA256 over the
 * X25519 secret) for the store's cipher (kernel aead.ts), and sends its public key before the sealed bundle. Neither private key is ever
 * stored or sent: a recording of the traffic opens with nothing on either host's disk.
 */
export class MoveSeal {
  private readonly own: KeyObject;
  /** This host's public key (SPKI, base64url), as the realm's record of the host gives it. */
  readonly publicKey: string;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('x25519');
    this.own = privateKey;
    this.publicKey = publicKey.export({ type: 'spki', format: 'der' }).toString('base64url');
  }

  /** `plain`, sealed for the host whose public key is `to`. */
  sealFor(to: string, plain: Uint8Array): Buffer {
    const once = generateKeyPairSync('x25519');
    const mine = once.publicKey.export({ type: 'spki', format: 'der' });
    const key = derive(once.privateKey, Buffer.from(to, 'base64url'), mine);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(mine.length);
    return sealBytes(key, INFO, [plain], Buffer.concat([len, mine]));
  }

  /** What {@link sealFor} sealed for this host; null when it was sealed for another key or changed. */
  open(sealed: Uint8Array): Buffer | null {
    if (sealed.length < 2) return null;
    const len = Buffer.from(sealed.subarray(0, 2)).readUInt16BE(0);
    const theirs = Buffer.from(sealed.subarray(2, 2 + len));
    let key: Buffer;
    try {
      key = derive(this.own, theirs, theirs, Buffer.from(this.publicKey, 'base64url'));
    } catch {
      return null;
    }
    return openSealed(key, INFO, sealed, 2 + len);
  }
}

/** The move's key: HKDF over the X25519 secret, bound to the sender's one-time key and the receiver's key. */
function derive(priv: KeyObject, peer: Buffer, senderKey: Buffer, receiverKey: Buffer = peer): Buffer {
  const secret = diffieHellman({ privateKey: priv, publicKey: createPublicKey({ key: peer, format: 'der', type: 'spki' }) });
  return Buffer.from(hkdfSync('sha256', secret, Buffer.concat([senderKey, receiverKey]), INFO, 32));
}
