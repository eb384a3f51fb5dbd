import { createHash, randomBytes } from 'node:crypto';
import { newNatsKey, natsKeyFromSeed, type NatsKey } from './nats-link.ts';

/**
 * NATS decentralized authentication (JWTs signed with nkeys), as far as a realm needs it: a device's
 * own MQTT credentials, and, to try a realm on one machine, a whole operator setup. The JWT shapes
 * are those of nats-io/jwt v2, which nats-server 2.9 reads.
 */

type Claims = { sub: string; name: string; nats: Record<string, unknown>; exp?: number };

const b64 = (b: Uint8Array | string): string => Buffer.from(b).toString('base64url');
const HEADER = b64(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));

/** A JWT of `claims`, issued (signed) by `issuer`. */
export function signJwt(claims: Claims, issuer: NatsKey, now = Date.now()): string {
  const body = { jti: '', iat: Math.floor(now / 1000), iss: issuer.publicKey, ...claims };
  body.jti = createHash('sha256').update(JSON.stringify(body)).update(randomBytes(8)).digest('base64url');
  const payload = `${HEADER}.${b64(JSON.stringify(body))}`;
  return `${payload}.${b64(issuer.sign(Buffer.from(payload)))}`;
}

/** What signs device credentials: the realm account's key, or one of its signing keys (then `account` names the account). */
export interface DeviceSigner {
  key: NatsKey;
  /** The account's public key (`A…`). */
  account: string;
}

/** A signer from a seed file's text and, for a signing key, the account's public key. */
export function deviceSigner(seed: string, account?: string): DeviceSigner {
  const key = natsKeyFromSeed(seed);
  if (!key.publicKey.startsWith('A')) throw new TypeError('the MQTT signing key must be an account key or an account signing key (a seed starting SA)');
  return { key, account: account ?? key.publicKey };
}

/**
 * A bearer user JWT for one MQTT device: it may connect over MQTT only, publish only on
 * `publish`, subscribe only to `subscribe`, until `expires` (ms; nats-server refuses it after, and
 * closes a connection made with it then). MQTT cannot sign the server's nonce, so the JWT alone is
 * the credential (nats-server reads it from the MQTT password): a lifetime bounds what a leaked one
 * is worth.
 */
export function deviceJwt(signer: DeviceSigner, name: string, publish: string[], subscribe: string[], expires: number, now = Date.now()): string {
  const nats: Record<string, unknown> = {
    pub: { allow: publish },
    sub: { allow: subscribe },
    subs: -1,
    data: -1,
    payload: -1,
    bearer_token: true,
    allowed_connection_types: ['MQTT'],
    type: 'user',
    version: 2,
  };
  if (signer.account !== signer.key.publicKey) nats['issuer_account'] = signer.account;
  return signJwt({ sub: newNatsKey('user').publicKey, name, nats, exp: Math.floor(expires / 1000) }, signer.key, now);
}

/** A user credentials file (what `--nats-creds` reads). */
export function credsFile(jwt: string, seed: string): string {
  return `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
}

/** An operator setup for a realm: nats-server's configuration lines, the hosts' credentials, and the device signer. */
export interface OperatorSetup {
  /** `operator`, `system_account`, `resolver` and `resolver_preload`, for nats-server's configuration. */
  config: string;
  /** The credentials file of the kumo hosts (a user of the realm's account with every permission). */
  hostCreds: string;
  /** The seed of the realm account's signing key for device credentials (`--mqtt-key`). */
  deviceKeySeed: string;
  /** The realm account's public key (`--mqtt-account`). */
  account: string;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

/**
 * Make an operator, a system account and the realm's account (JetStream on, no limits) with a
 * signing key for devices, and a user for the hosts. What `nsc` would make; here so that a realm
 * with MQTT can be tried (and tested) with nothing but nats-server.
 */
export function operatorSetup(now = Date.now()): OperatorSetup {
  const operator = newNatsKey('operator');
  const system = newNatsKey('account');
  const account = newNatsKey('account');
  const signing = newNatsKey('account');
  const host = newNatsKey('user');
  const accountJwt = (key: NatsKey, name: string, extra: Record<string, unknown>): string => signJwt({ sub: key.publicKey, name, nats: { limits: { ...UNLIMITED }, type: 'account', version: 2, ...extra } }, operator, now);
  const jwts = {
    operator: signJwt({ sub: operator.publicKey, name: 'kumo', nats: { type: 'operator', version: 2, system_account: system.publicKey } }, operator, now),
    system: accountJwt(system, 'SYS', {}),
    realm: accountJwt(account, 'KUMO', {
      limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
      signing_keys: [signing.publicKey],
    }),
  };
  const hostJwt = signJwt({ sub: host.publicKey, name: 'kumo hosts', nats: { pub: {}, sub: {}, subs: -1, data: -1, payload: -1, type: 'user', version: 2 } }, account, now);
  return {
    config: [`operator: "${jwts.operator}"`, `system_account: "${system.publicKey}"`, 'resolver: MEMORY', `resolver_preload: {\n  ${system.publicKey}: "${jwts.system}"\n  ${account.publicKey}: "${jwts.realm}"\n}`, ''].join('\n'),
    hostCreds: credsFile(hostJwt, host.seed),
    deviceKeySeed: signing.seed,
    account: account.publicKey,
  };
}
