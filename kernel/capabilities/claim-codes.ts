import { createHash } from 'node:crypto';
import type { Active } from '../clouds/activation.ts';
import type { Committer } from '../store/committer.ts';
import { ClaimCodeExpiredError, InvalidArgsError, RateLimitedError, StoreFailedError, UnknownClaimCodeError, UnknownCloudError } from '../errors.ts';
import { partitionOf, type CloudId, type Eci, type IdGenerator } from '../ids.ts';
import { keys, parseCloudKey, ranges } from '../store/keys.ts';
import type { Limits } from '../limits.ts';
import type { ClaimCode } from '../ruleset.ts';
import { del, put, type Store, type WriteOp } from '../store/store.ts';
import type { Tx } from '../episodes/tx.ts';
import type { ClaimRecord } from '../store/keys.ts';

/**
 * Claim codes: how a device gets its ECI without anyone typing one. The owner's
 * `wrangler:new_device_request` (or `claim_code_request`) makes a code; the device sends it once to
 * `POST /claim` and gets the ECI back. A code
 *
 * - is short and typable: 12 characters of Crockford's base32 (digits and capitals but I, L, O, U),
 *   shown as `XXXX-XXXX-XXXX`; case, dashes and spaces do not matter, and I and L read as 1, O as 0;
 * - says where its cloud lives: the top 12 of its 60 bits are the cloud's partition, so any host of
 *   a realm can tell which host holds the device cloud ({@link claimCodePartition});
 * - carries 48 random bits, and is stored only as its SHA-256: host-wide under `k!{hash}` (the claim
 *   knows nothing but the code), mirrored under the cloud (`~claim!{hash}`) so deleting the cloud
 *   deletes it;
 * - expires (`limits.claimCodeMs`, 24 h, unless the owner says otherwise) and works once: a claim
 *   runs in the device cloud's mailbox and deletes the code in one batch, so of two claims of one
 *   code exactly one succeeds;
 * - cannot be found by guessing: each failed claim spends a token of a host-wide bucket refilled at
 *   `limits.claimFailuresPerMinute`, and an empty bucket refuses every claim (RATE_LIMITED) before
 *   any lookup. At 30 a minute, hitting one of 10,000 waiting codes takes 2^48 / 10^4 / 43,200 a day
 *   ≈ 650,000 days.
 */

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const CODE = /^[0-9A-HJKMNP-TV-Z]{12}$/;
const RANDOM_BITS = 48n;

/** A new code (normalized, without dashes) for a cloud in `partition`. */
export function newClaimCode(ids: IdGenerator, partition: number): string {
  let value = BigInt(partition);
  for (const byte of ids.bytes(Number(RANDOM_BITS / 8n))) value = (value << 8n) | BigInt(byte);
  let code = '';
  for (let i = 0; i < 12; i++, value >>= 5n) code = ALPHABET[Number(value & 31n)]! + code;
  return code;
}

/** The code as people read it: `XXXX-XXXX-XXXX`. */
export function formatClaimCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

/** A code as typed, normalized (capitals, no dashes or spaces, I/L → 1, O → 0); INVALID_ARGS when it cannot be one. */
export function normalizeClaimCode(text: unknown): string {
  const code = typeof text === 'string' && text.length <= 40 ? text.toUpperCase().replace(/[\s-]/g, '').replace(/[IL]/g, '1').replace(/O/g, '0') : '';
  if (!CODE.test(code)) throw new InvalidArgsError('a claim code is 12 letters and digits, such as 7K3Q-M9PA-XR2F');
  return code;
}

/** The partition of the cloud a (normalized) code is for: where a realm routes its claim. */
export function claimCodePartition(code: string): number {
  let value = 0n;
  for (const c of code) value = (value << 5n) | BigInt(ALPHABET.indexOf(c));
  return Number(value >> RANDOM_BITS);
}

/** What the store keeps instead of the code. */
export function hashClaimCode(code: string): string {
  return createHash('sha256').update(`kumo claim code ${code}`).digest('base64url');
}

export interface ClaimCodesDeps {
  store: Store;
  committer: Committer;
  ids: IdGenerator;
  now: () => number;
  limits: Pick<Limits, 'claimFailuresPerMinute'>;
  /** Run `task` in the cloud's mailbox, activating the cloud if needed. */
  inCloud<T>(cloudId: CloudId, task: (a: Active) => Promise<T>): Promise<T>;
}

/** What a redeemed code's cloud does with it, in its mailbox: writes for the same batch, and the answer. */
export type Redeem<T> = (a: Active, rec: ClaimRecord) => Promise<{ ops: WriteOp[]; value: T }> | { ops: WriteOp[]; value: T };

/**
 * Making and claiming codes; the host's one instance also keeps the guessing budgets (one per
 * purpose: a device's claims, and an owner's sign-in codes of capabilities/sign-in.ts).
 */
export class ClaimCodes {
  private readonly budgets = new Map<string, { tokens: number; refilled: number }>();

  constructor(private readonly deps: ClaimCodesDeps) {}

  /**
   * Stage a new code for `eci` of cloud `cloudId` in `tx`'s batch, valid for `ttlMs`; earlier codes
   * of that ECI stop working in the same batch. Call in the cloud's mailbox (or while creating it).
   */
  async stage(tx: Tx, cloudId: CloudId, eci: Eci, ttlMs: number): Promise<ClaimCode> {
    const { ops, code } = await this.codeOps(cloudId, eci, ttlMs);
    tx.stage(ops);
    return code;
  }

  /**
   * The writes of a new code of `purpose` for `eci` of cloud `cloudId`, valid for `ttlMs`, which
   * also delete the earlier codes of that ECI and purpose. Call in the cloud's mailbox.
   */
  async codeOps(cloudId: CloudId, eci: Eci, ttlMs: number, purpose?: ClaimRecord['purpose']): Promise<{ ops: WriteOp[]; code: ClaimCode }> {
    const ops: WriteOp[] = [];
    for (const [k, rec] of await this.deps.store.entries(ranges.claims(cloudId))) {
      const parsed = parseCloudKey(cloudId, k);
      if (rec.eci === eci && rec.purpose === purpose && parsed?.kind === 'claim') ops.push(del(k), del(keys.claimIndex(parsed.hash)));
    }
    const code = newClaimCode(this.deps.ids, partitionOf(cloudId));
    const hash = hashClaimCode(code);
    const expires = this.deps.now() + ttlMs;
    const rec = purpose === undefined ? { eci, expires } : { eci, expires, purpose };
    ops.push(put(keys.claimIndex(hash), { cloudId, ...rec }), put(keys.claim(cloudId, hash), rec));
    return { ops, code: { code: formatClaimCode(code), expires } };
  }

  /**
   * Hand over the ECI a code was made for, once. UNKNOWN_CLAIM_CODE for a wrong or used code,
   * CLAIM_CODE_EXPIRED for an expired one (then deleted), RATE_LIMITED while the budget for failed
   * claims is spent.
   */
  claim(text: unknown): Promise<{ eci: Eci }> {
    return this.redeem(text, undefined, (_a, rec) => ({ ops: [], value: { eci: rec.eci } }));
  }

  /**
   * Spend a code of `purpose` (a device's claim: none) once: in its cloud's mailbox, the code is
   * deleted in one batch with what `then` writes, and its answer is returned. Refusals as {@link claim};
   * a code of another purpose is unknown here (and stays).
   */
  async redeem<T>(text: unknown, purpose: ClaimRecord['purpose'], then: Redeem<T>): Promise<T> {
    const code = normalizeClaimCode(text); // malformed input finds nothing: no token spent
    this.spend(purpose ?? 'claims');
    try {
      const value = await this.consume(hashClaimCode(code), purpose, then);
      this.refund(purpose ?? 'claims');
      return value;
    } catch (err) {
      // Only a code that does not work is a guess; a full mailbox or a store error is not.
      if (!(err instanceof UnknownClaimCodeError || err instanceof ClaimCodeExpiredError)) this.refund(purpose ?? 'claims');
      throw err;
    }
  }

  private async consume<T>(hash: string, purpose: ClaimRecord['purpose'], then: Redeem<T>): Promise<T> {
    const { store, now } = this.deps;
    const found = await store.get(keys.claimIndex(hash));
    if (!found || found.purpose !== purpose) throw new UnknownClaimCodeError();
    try {
      return await this.deps.inCloud(found.cloudId, async (a) => {
        // Read again in the mailbox: a claim of this code that ran first has deleted it.
        const rec = a.closed ? undefined : await store.get(keys.claimIndex(hash));
        if (!rec) throw new UnknownClaimCodeError();
        const spent = [del(keys.claimIndex(hash)), del(keys.claim(rec.cloudId, hash))];
        const write = (ops: WriteOp[]): Promise<void> =>
          this.deps.committer.commit(ops).catch((err: unknown) => {
            throw StoreFailedError.of(err);
          });
        if (rec.expires <= now()) {
          await write(spent);
          throw new ClaimCodeExpiredError(rec.expires);
        }
        if (!a.state.ecis.has(rec.eci)) {
          await write(spent);
          throw new UnknownClaimCodeError(); // the ECI was deleted since
        }
        const { ops, value } = await then(a, rec);
        await write([...spent, ...ops]);
        return value;
      });
    } catch (err) {
      throw err instanceof UnknownCloudError ? new UnknownClaimCodeError() : err;
    }
  }

  /** Take a token of `what`'s budget, refilled continuously up to one minute's worth; none left: RATE_LIMITED. */
  private spend(what: string): void {
    const perMinute = this.deps.limits.claimFailuresPerMinute;
    const now = this.deps.now();
    const b = this.budgets.get(what) ?? { tokens: perMinute, refilled: now };
    this.budgets.set(what, b);
    b.tokens = Math.min(perMinute, b.tokens + ((now - b.refilled) * perMinute) / 60_000);
    b.refilled = now;
    if (b.tokens < 1) throw new RateLimitedError(what === 'claims' ? 'claims' : 'sign-ins', perMinute > 0 ? Math.ceil(((1 - b.tokens) * 60) / perMinute) : 60);
    b.tokens -= 1;
  }

  private refund(what: string): void {
    const b = this.budgets.get(what)!;
    b.tokens = Math.min(this.deps.limits.claimFailuresPerMinute, b.tokens + 1);
  }
}
