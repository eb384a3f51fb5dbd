import { createHash } from 'node:crypto';
import { isEci, partitionOf, PARTITIONS, RealmUnavailableError, type IdGenerator } from '../../kernel/index.ts';
import { StartError } from '../start-error.ts';
import type { Bucket, BucketEntry } from './nats-link.ts';

/** What a host tells the realm about itself. */
export interface HostRecord {
  id: string;
  /** Its HTTP base URL, when it serves one. */
  url?: string;
  /** When it last started (ms). */
  since: number;
  /** Its public key for this start, to seal clouds moving to it (move-seal.ts). */
  sealKey?: string;
}

/**
 * The realm's record of a host: what it tells, and its claim on its id. `token` is the SHA-256 of
 * the secret of the data directory that first joined as this host (kernel Membership); `epoch`
 * grows by one at each join. A host is fenced when the record shows a newer claim than its own.
 */
interface HostClaim extends HostRecord {
  token?: string;
  epoch?: number;
}

const PARTITION = 'p.';
const MOVED = 'e.';
const HOST = 'h.';
const MOVE = 'm.';

/** How a move of clouds between hosts ended: the one decision both hosts act on. */
export type MoveDecision = 'committed' | 'aborted';

/** Where a moved ECI lives: a host, effective at once or once its move is committed. */
interface MovedEntry {
  host: string;
  move?: string;
}

/**
 * Where clouds live (docs/realm.md): a replicated map in one KV bucket per realm, of partition → host
 * (`p.<n>`), of ECIs whose cloud moved away from its partition's host (`e.<eci>`), and of the hosts
 * (`h.<id>`). Every host keeps a local copy by watching the bucket, so routing an ECI costs no
 * network round trip: the moved table first, else the partition's owner.
 *
 * Moving clouds between hosts is decided in the bucket too: one key per move (`m.<id>`), created
 * once with compare-and-set as committed or aborted; the moved ECIs' entries count only once their
 * move is committed, so routing never sees two homes or none.
 *
 * A host claims partitions with compare-and-set (`create` fails for a key that exists), so hosts
 * starting at the same moment never own the same partition. Ownership is for good: a cloud keeps
 * its partition's host unless it moves.
 */
export class Placement {
  private readonly owners = new Map<number, string>();
  private readonly moved = new Map<string, MovedEntry>();
  private readonly decisions = new Map<string, MoveDecision>();
  private readonly hosts = new Map<string, HostRecord>();
  private readonly deciders = new Set<(move: string, decision: MoveDecision) => void>();
  private stopWatch: (() => void) | null = null;
  /** This host's claim, as written, and its revision (its record is changed only by compare-and-set). */
  private mine: { claim: HostClaim; revision: number } | null = null;
  /** The partitions this host serves, once it has joined: another owner for one of them fences it. */
  private serving: ReadonlySet<number> | null = null;
  private fence: ((reason: string) => void) | null = null;
  private fencedFor: string | null = null;

  constructor(
    private readonly bucket: Bucket,
    private readonly self: string,
  ) {}

  /** Load the map and keep it up to date. */
  async start(): Promise<void> {
    this.stopWatch = await this.bucket.watch((e) => this.apply(e));
  }

  stop(): void {
    this.stopWatch?.();
  }

  /** The host that has `eci`, as far as the map says; undefined for no host (or no ECI). */
  hostOf(eci: string): string | undefined {
    if (!isEci(eci)) return undefined;
    const moved = this.moved.get(eci);
    // An entry of a move not yet committed does not count: the cloud is still where it was.
    if (moved && (moved.move === undefined || this.decisions.get(moved.move) === 'committed')) return moved.host;
    return this.owners.get(partitionOf(eci));
  }

  /** How a move ended, as far as the map says (undefined: not decided yet). */
  decision(move: string): MoveDecision | undefined {
    return this.decisions.get(move);
  }

  /** Hear about moves being decided. */
  onDecision(fn: (move: string, decision: MoveDecision) => void): () => void {
    this.deciders.add(fn);
    return () => this.deciders.delete(fn);
  }

  /**
   * Decide a move, once for all: the first decision written wins (compare-and-set), and is what
   * this returns, whoever wrote it.
   */
  async decide(move: string, decision: MoveDecision): Promise<MoveDecision> {
    const key = `${MOVE}${move}`;
    if ((await this.bucket.create(key, decision)) === null) decision = ((await this.bucket.get(key))?.value as MoveDecision | undefined) ?? decision;
    this.decisions.set(move, decision);
    return decision;
  }

  /** Say that the ECIs of a move will live on `host` once the move is committed. */
  async movePending(move: string, ecis: string[], host: string): Promise<void> {
    for (const eci of ecis) {
      const entry: MovedEntry = { host, move };
      await this.bucket.put(`${MOVED}${eci}`, JSON.stringify(entry));
      this.moved.set(eci, entry);
    }
  }

  /** Forget the entries of a move that was aborted (they never counted). */
  async forgetMove(move: string, ecis: string[]): Promise<void> {
    for (const eci of ecis) {
      if (this.moved.get(eci)?.move !== move) continue;
      await this.bucket.delete(`${MOVED}${eci}`);
      this.moved.delete(eci);
    }
  }

  /** The host that owns partition `p`, if one does. */
  ownerOf(p: number): string | undefined {
    return this.owners.get(p);
  }

  /** The partitions a host owns, ascending. */
  partitionsOf(host: string): number[] {
    return [...this.owners]
      .filter(([, h]) => h === host)
      .map(([p]) => p)
      .sort((a, b) => a - b);
  }

  /** Every owned partition, by host (for `kumo realm` and tests). */
  owned(): ReadonlyMap<number, string> {
    return this.owners;
  }

  /** The key host `id` told the realm to seal clouds moving to it with, if it did. */
  sealKeyOf(id: string): string | undefined {
    return this.hosts.get(id)?.sealKey;
  }

  /** The hosts that have said where they are. */
  knownHosts(): HostRecord[] {
    return [...this.hosts.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /**
   * Own `needed` partitions (those this host's existing clouds live in) and, beyond them, enough
   * unowned ones to own `count` in all. Returns what this host owns now, and the needed partitions
   * another host owned first.
   */
  async claim(count: number, needed: Iterable<number>, ids: IdGenerator): Promise<{ mine: number[]; taken: number[] }> {
    const taken: number[] = [];
    for (const p of new Set(needed)) {
      const owner = await this.take(p);
      if (owner !== this.self) taken.push(p);
    }
    let mine = this.partitionsOf(this.self);
    for (let tries = 0; mine.length < count && tries < PARTITIONS * 2; tries++) {
      const free = this.unowned();
      if (free.length === 0) break;
      const b = ids.bytes(2);
      await this.take(free[((b[0]! << 8) | b[1]!) % free.length]!);
      mine = this.partitionsOf(this.self);
    }
    return { mine, taken };
  }

  /** Say that `eci` lives on `host` now (its cloud moved away from its partition's host). */
  async setMoved(eci: string, host: string): Promise<void> {
    const entry: MovedEntry = { host };
    await this.bucket.put(`${MOVED}${eci}`, JSON.stringify(entry));
    this.moved.set(eci, entry);
  }

  /**
   * Claim this host's id with the secret of its data directory, before serving anything: refused
   * (HOST_ID_TAKEN) when the id belongs to another data directory, or when a host with it answers
   * in the realm (`running`: the same data directory copied, and started twice). Returns the epoch
   * of this claim, one above the last; a claim written meanwhile by another is read and judged again.
   */
  async claimHost(secret: string, realm: string, running: () => Promise<boolean>, sealKey?: string): Promise<number> {
    const key = `${HOST}${this.self}`;
    const token = createHash('sha256').update(secret).digest('hex');
    for (let tries = 0; tries < 5; tries++) {
      const e = await this.bucket.get(key);
      const before = e?.value ? (JSON.parse(e.value) as HostClaim) : null;
      if (before?.token !== undefined && before.token !== token) {
        throw new StartError(
          'HOST_ID_TAKEN',
          `host id ${this.self} of realm ${realm} belongs to another data directory (it first joined ${before.since ? new Date(before.since).toISOString() : 'earlier'}); give this host another --host-id, or start host ${this.self} on its own data directory`,
        );
      }
      if (before && (await running())) throw new StartError('HOST_ID_TAKEN', `host ${this.self} of realm ${realm} is running already (it answers in the realm): a data directory copied and started twice? stop one of them`);
      const claim: HostClaim = { ...before, id: this.self, since: Date.now(), token, epoch: (before?.epoch ?? 0) + 1, ...(sealKey ? { sealKey } : {}) };
      const revision = e ? await this.bucket.update(key, JSON.stringify(claim), e.revision) : await this.bucket.create(key, JSON.stringify(claim));
      if (revision === null) continue;
      this.mine = { claim, revision };
      this.hosts.set(this.self, shown(claim));
      return claim.epoch!;
    }
    throw new RealmUnavailableError(`claim host id ${this.self}`, 'its record kept changing under this host');
  }

  /**
   * Watch for newer claims on what this host serves, once it has joined: its own id claimed again
   * (a higher epoch, or another data directory), or one of `partitions` owned by another host. Then
   * `fenced` is told why, once, and the host must stop serving at once.
   */
  arm(partitions: readonly number[], fenced: (reason: string) => void): void {
    this.serving = new Set(partitions);
    this.fence = fenced;
    if (this.fencedFor !== null) fenced(this.fencedFor);
  }

  /** Why this host was fenced, if it was. */
  get fenced(): string | null {
    return this.fencedFor;
  }

  /** Tell the realm where this host is (its claim kept; compare-and-set, so a newer claim is never overwritten). */
  async register(record: HostRecord): Promise<void> {
    const key = `${HOST}${this.self}`;
    for (let tries = 0; tries < 5; tries++) {
      if (this.fencedFor !== null) throw new RealmUnavailableError('register this host', this.fencedFor);
      const mine = this.mine;
      if (!mine) {
        // A host that made no claim (tests of the map alone).
        await this.bucket.put(key, JSON.stringify(record));
        this.hosts.set(record.id, record);
        return;
      }
      const claim: HostClaim = { ...mine.claim, ...record, id: this.self };
      const revision = await this.bucket.update(key, JSON.stringify(claim), mine.revision);
      if (revision !== null) {
        this.mine = { claim, revision };
        this.hosts.set(this.self, shown(claim));
        return;
      }
      const e = await this.bucket.get(key);
      const now = e?.value ? (JSON.parse(e.value) as HostClaim) : null;
      if (!e || !now || this.newer(now)) {
        this.fenceNow(now ? this.claimedAgain(now) : `the realm's record of host ${this.self} was deleted`);
        continue;
      }
      this.mine = { claim: now, revision: e.revision };
    }
    throw new RealmUnavailableError('register this host', this.fencedFor ?? 'its record kept changing');
  }

  /** Is `claim` newer than this host's own (another join with this id)? */
  private newer(claim: HostClaim): boolean {
    const mine = this.mine?.claim;
    return mine !== undefined && ((claim.epoch ?? 0) > (mine.epoch ?? 0) || claim.token !== mine.token);
  }

  private claimedAgain(claim: HostClaim): string {
    return `host ${this.self} joined the realm again elsewhere (claim ${claim.epoch ?? '?'}, this one ${this.mine?.claim.epoch ?? '?'})`;
  }

  private fenceNow(reason: string): void {
    if (this.fencedFor !== null) return;
    this.fencedFor = reason;
    this.fence?.(reason);
  }

  private unowned(): number[] {
    const out: number[] = [];
    for (let p = 0; p < PARTITIONS; p++) if (!this.owners.has(p)) out.push(p);
    return out;
  }

  /** Try to own partition `p`; returns its owner afterwards. */
  private async take(p: number): Promise<string | undefined> {
    const known = this.owners.get(p);
    if (known !== undefined) return known;
    const key = `${PARTITION}${p}`;
    if ((await this.bucket.create(key, this.self)) !== null) {
      this.owners.set(p, this.self);
      return this.self;
    }
    const e = await this.bucket.get(key);
    if (e?.value) this.owners.set(p, e.value);
    return e?.value ?? undefined;
  }

  private apply(e: BucketEntry): void {
    if (e.key.startsWith(PARTITION)) {
      const p = Number(e.key.slice(PARTITION.length));
      if (e.value === null) this.owners.delete(p);
      else this.owners.set(p, e.value);
      if (this.serving?.has(p) && e.value !== this.self) this.fenceNow(`partition ${p}, which this host serves, is ${e.value === null ? 'no longer owned' : `owned by host ${e.value}`} now`);
    } else if (e.key.startsWith(MOVED)) {
      const eci = e.key.slice(MOVED.length);
      if (e.value === null) this.moved.delete(eci);
      else this.moved.set(eci, JSON.parse(e.value) as MovedEntry);
    } else if (e.key.startsWith(MOVE)) {
      const move = e.key.slice(MOVE.length);
      if (e.value === null || this.decisions.has(move)) return;
      this.decisions.set(move, e.value as MoveDecision);
      for (const fn of this.deciders) fn(move, e.value as MoveDecision);
    } else if (e.key.startsWith(HOST)) {
      const id = e.key.slice(HOST.length);
      const claim = e.value === null ? null : (JSON.parse(e.value) as HostClaim);
      if (claim) this.hosts.set(id, shown(claim));
      else this.hosts.delete(id);
      if (id === this.self && this.mine && e.revision > this.mine.revision && (!claim || this.newer(claim))) this.fenceNow(claim ? this.claimedAgain(claim) : `the realm's record of host ${this.self} was deleted`);
    }
  }
}

/** A host's record as others see it (its token is for its claim alone). */
function shown(claim: HostClaim): HostRecord {
  return { id: claim.id, since: claim.since, ...(claim.url !== undefined ? { url: claim.url } : {}), ...(claim.sealKey !== undefined ? { sealKey: claim.sealKey } : {}) };
}
