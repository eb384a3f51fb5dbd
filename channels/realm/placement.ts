import { isEci, partitionOf, PARTITIONS, type Eci, type IdGenerator } from '../../kernel/index.ts';
import type { Bucket, BucketEntry } from './nats-link.ts';

/** What a host tells the realm about itself. */
export interface HostRecord {
  id: string;
  /** Its HTTP base URL, when it serves one. */
  url?: string;
  /** When it last started (ms). */
  since: number;
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
 * Where clouds live (DESIGN §7): a replicated map in one KV bucket per realm, of partition → host
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
    return this.owners.get(partitionOf(eci as Eci));
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
    return [...this.owners].filter(([, h]) => h === host).map(([p]) => p).sort((a, b) => a - b);
  }

  /** Every owned partition, by host (for `kumo realm` and tests). */
  owned(): ReadonlyMap<number, string> {
    return this.owners;
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

  /** Tell the realm where this host is. */
  async register(record: HostRecord): Promise<void> {
    await this.bucket.put(`${HOST}${record.id}`, JSON.stringify(record));
    this.hosts.set(record.id, record);
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
      if (e.value === null) this.hosts.delete(id);
      else this.hosts.set(id, JSON.parse(e.value) as HostRecord);
    }
  }
}
