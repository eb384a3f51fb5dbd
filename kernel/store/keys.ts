import type { AppPermissions, ChildInfo, Directive, EciInfo, KumoEvent, ScheduleInfo } from '../ruleset.ts';
import { isCloudId, isEci, type CloudId, type Eci } from '../ids.ts';

/**
 * Every key shape in the store, in one place (docs/architecture.md, "Store layout"): this is the only file that builds or
 * parses a key. Each key carries the type of its value, so reads need no casts.
 *
 * One cloud's records all live under `c!{cloudId}!`, so exporting, importing or deleting a cloud
 * is a range operation. Records a cloud does not load on activation (its episode log, dead
 * letters, claim codes, idempotency keys, console passkeys and sessions) sort last, under `c!{cloudId}!~`. Host-wide indexes
 * live under one-letter prefixes.
 */

declare const valueType: unique symbol;

/** A store key whose value has type `V`. Built only here. */
export type Key<V> = string & { readonly [valueType]: V };

/** A key range whose values have type `V` (upper bound exclusive). */
export interface Range<V = unknown> {
  gte: string;
  lt: string;
  readonly [valueType]?: V;
}

/** The stored cloud record. */
export interface CloudMeta {
  id: CloudId;
  name: string;
  parent: CloudId | null;
  created: number;
  /**
   * The ECIs the built-in rulesets declare (the links' well-known ECI), by rid, in declaration
   * order. Every cloud has the built-ins, so neither their installs nor these ECIs are records of
   * their own: their tags and policies are the declarations' (see `loadCloud`), their ids are here.
   */
  builtinEcis?: Record<string, Eci[]>;
}

/**
 * What a meta, ECI or child record stores: all but the id, which its key already holds (the ids are
 * random text that compression cannot shrink: ~70 bytes a cloud). Records written before may still
 * carry it. Build one with {@link stored}; a reader gives the id back from the key.
 */
export type Stored<T extends { id: unknown }> = Omit<T, 'id'> & { id?: T['id'] };

/** `value` without its id, to store under a key that holds it. */
export function stored<T extends { id: unknown }>(value: T): Stored<T> {
  const { id: _, ...rest } = value;
  return rest;
}

export interface InstallRecord {
  rid: string;
  config: Record<string, unknown>;
  /** Install order: rulesets are evaluated by ascending seq. */
  seq: number;
  /** The ECIs made for the ruleset's declared `ecis`; they go when it is uninstalled. */
  ecis?: Eci[];
  /** Set for an app the cloud's owner installed (not a ruleset of the host's): which one, and what it may do. */
  app?: AppRecord;
}

/** An installed app: its code by content hash, where it came from, and the permissions its owner granted. */
export interface AppRecord {
  /** sha256 (hex) of the app's source text, as stored in the host's app sources. */
  hash: string;
  version: string;
  /** The URL it was installed from; absent for an upload. */
  url?: string;
  grant: AppPermissions;
}

export type ScheduleRecord = ScheduleInfo;

/** An event leaving a cloud, kept until the receiver (or the realm's durable inbox) has it. */
export interface OutboxEntry {
  /** The sending cloud. */
  cloudId: CloudId;
  eci: string;
  event: KumoEvent;
  /** When it was first staged (ms); an entry older than `limits.outboxTtlMs` becomes a dead letter. */
  since: number;
  /** The base URL of another provider's host that has `eci` (pico's `Tx_host`); absent: this host or its realm. */
  host?: string;
  /** How many times the event followed its cloud's forwarding address (410 CLOUD_MOVED) so far. */
  moves?: number;
}

/** An event accepted for a cloud (HTTP 202) and not yet applied: the durable per-host inbox. */
export interface InboxEntry {
  cloudId: CloudId;
  eci: string;
  event: KumoEvent;
  idempotencyKey?: string;
}

/** An outgoing event that could never be delivered, kept in the sending cloud. */
export interface DeadLetter {
  seq: number;
  eci: string;
  /** The other provider's host it was bound for, if any. */
  host?: string;
  event: KumoEvent;
  /** Why: the error code and message of the last attempt. */
  reason: { code: string; message: string };
  attempts: number;
  time: number;
}

/** A move of a subtree of clouds to another host of the realm, as its source remembers it. */
export interface MoveOut {
  id: string;
  root: CloudId;
  to: string;
  /** The clouds of the subtree (held again at a restart until the move is decided) and their ECIs. */
  ids: CloudId[];
  ecis: string[];
}

/** Clouds landed from another host of the realm, held until their move is committed or aborted. */
export interface MoveIn {
  id: string;
  from: string;
  root: CloudId;
  ids: CloudId[];
  /** Their undelivered outgoing events, taken up when the move is committed. */
  outbox: OutboxEntry[];
}

/** What an ECI whose cloud left this host (exported with a forwarding address) leaves behind. */
export interface Tombstone {
  /** Where the cloud went: the base URL of its new host. */
  movedTo: string;
  time: number;
}

/** The realm a data directory is a host of: bound at its first join, for good. */
export interface Membership {
  realm: string;
  hostId: string;
  /** A secret of this data directory, also in the realm's record of the host: who joins as the host must hold it. */
  token: string;
  /** The partitions it owned when it last joined (it restarts on them without waiting for the realm). */
  partitions: number[];
}

/** The host's root cloud and its owner ECI. */
export interface RootRecord {
  cloudId: CloudId;
  eci: Eci;
}

/** The answer an idempotency key got, kept so a retry with the key gets it again (kernel/idempotency.ts). */
export interface IdempotencyRecord {
  /** Its place in the cloud's window (the oldest seq is dropped first). */
  seq: number;
  eid: string;
  /** What the key was used for: a hash of the ECI, domain, type and attrs. */
  fingerprint: string;
  directives: Directive[];
  /** When it was applied (ms). */
  time: number;
}

/** A device's claim code, by the hash of the code (the code itself is never stored). */
export interface ClaimRecord {
  cloudId: CloudId;
  /** The ECI the claim hands over. */
  eci: Eci;
  /** When the code stops working (ms). */
  expires: number;
  /** What the code is for: a device's claim (none), or an owner's first sign-in to the console (capabilities/sign-in.ts). */
  purpose?: 'signin';
}

/** A console session of a cloud (capabilities/sign-in.ts): the SHA-256 of its secret, never the secret. */
export interface SessionRecord {
  hash: string;
  /** The ECI whose authority the session carries: the one that made the sign-in code, or the passkey's. */
  eci: Eci;
  created: number;
  expires: number;
  /** How it was opened. */
  via: 'code' | 'passkey';
  /** What the browser said it was (its user agent, cut short). */
  label: string;
}

/** A passkey registered for a cloud's console (capabilities/sign-in.ts), by its credential id. */
export interface PasskeyRecord {
  /** The ECI whose authority its sessions carry: the one of the session that registered it. */
  eci: Eci;
  /** The credential's COSE public key, base64url. */
  publicKey: string;
  /** The authenticator's signature counter, as last seen. */
  counter: number;
  transports: string[];
  created: number;
  lastUsed: number | null;
  label: string;
}

/** What one episode leaves in its cloud's log. (EpisodeLog.stage copies it field by field: a new field goes there too.) */
export interface EpisodeLogEntry {
  seq: number;
  eid: string;
  domain: string;
  type: string;
  time: number;
  /** `rid/rule` of every rule whose selector matched. */
  selected: string[];
  /** `rid/rule` of every rule whose action fired. */
  fired: string[];
  directives: Array<{ name: string; rid: string; rule: string }>;
  raised: number;
  /** Installed rulesets that are not registered on this host (skipped). */
  missing?: string[];
  error?: { code: string; message: string; rid?: string; rule?: string };
  /** Set on the entry that records an outgoing event becoming a dead letter. */
  deadLetter?: { eci: string; seq: number };
  ms: number;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');
const key = <V>(s: string): Key<V> => s as Key<V>;

/** The range of all keys starting with `prefix` (which must end in "!"): up to the same string ending in '"'. */
function under<V>(prefix: string): Range<V> {
  return { gte: prefix, lt: `${prefix.slice(0, -1)}"` };
}

const cloud = (id: string): string => `c!${id}!`;

export const keys = {
  meta: (id: string) => key<Stored<CloudMeta>>(`${cloud(id)}meta`),
  eci: (id: string, eci: string) => key<Stored<EciInfo>>(`${cloud(id)}eci!${eci}`),
  child: (id: string, childId: string) => key<Stored<ChildInfo>>(`${cloud(id)}kid!${childId}`),
  install: (id: string, rid: string) => key<InstallRecord>(`${cloud(id)}rs!${rid}`),
  entity: (id: string, rid: string, name: string) => key<unknown>(`${cloud(id)}ent!${rid}!${name}`),
  exprState: (id: string, rid: string, rule: string) => key<unknown>(`${cloud(id)}ee!${rid}!${rule}`),
  schedule: (id: string, sid: string) => key<ScheduleRecord>(`${cloud(id)}sch!${sid}`),
  /** An applied eid of the at-most-once window, with the time it was applied. */
  applied: (id: string, eid: string) => key<number>(`${cloud(id)}eid!${eid}`),
  /** A claim code waiting for its device (mirrors the host-wide {@link keys.claimIndex} entry, so deleting the cloud finds it). */
  claim: (id: string, hash: string) => key<Omit<ClaimRecord, 'cloudId'>>(`${cloud(id)}~claim!${hash}`),
  deadLetter: (id: string, seq: number) => key<DeadLetter>(`${cloud(id)}~dead!${pad(seq, 12)}`),
  /** An event of the cloud bounced by a realm host (its cloud had left for another provider) and sent on: once per ECI and eid. */
  forwarded: (id: string, eci: string, eid: string) => key<number>(`${cloud(id)}~fwd!${eci}!${eid}`),
  /** The answer recorded for an idempotency key (not loaded on activation: read one key when needed). */
  idem: (id: string, idemKey: string) => key<IdempotencyRecord>(`${cloud(id)}~idem!${idemKey}`),
  /** The idempotency window in order: seq → the key recorded at that place. */
  idemSeq: (id: string, seq: number) => key<string>(`${cloud(id)}~idemseq!${pad(seq, 12)}`),
  log: (id: string, seq: number) => key<EpisodeLogEntry>(`${cloud(id)}~log!${pad(seq, 12)}`),
  /** A passkey of the cloud's console, by credential id (base64url). */
  passkey: (id: string, credId: string) => key<PasskeyRecord>(`${cloud(id)}~pk!${credId}`),
  /** A console session of the cloud, by its id. */
  session: (id: string, sid: string) => key<SessionRecord>(`${cloud(id)}~sess!${sid}`),

  /** Host-wide: the root cloud of this host. */
  root: () => key<RootRecord>('h!root'),
  /** Host-wide: this host's identity (kept across restarts). */
  hostId: () => key<string>('h!id'),
  /** Host-wide: the partitions this host, as `hostId`, owned when it last joined realm `realm` (kept by kumo before memberships; read once to make one). */
  realmPartitions: (realm: string, hostId: string) => key<number[]>(`h!realm!${realm}!${hostId}`),
  /** Host-wide: the realm this data directory is a host of, as which host, with the partitions it owned (channels/realm/membership.ts). */
  membership: () => key<Membership>('h!member'),
  /** Host-wide ECI index: eci → cloud id. O(1) routing. */
  eciIndex: (eci: string) => key<CloudId>(`i!${eci}`),
  /** Host-wide schedule index by due time. */
  due: (at: number, cloudId: string, sid: string) => key<null>(`d!${pad(at, 15)}!${cloudId}!${sid}`),
  /** Host-wide outbox of events leaving clouds, delivered after commit. */
  outbox: (seq: number) => key<OutboxEntry>(`o!${pad(seq, 15)}`),
  /** Host-wide durable inbox of accepted events. */
  inbox: (seq: number) => key<InboxEntry>(`n!${pad(seq, 15)}`),
  /** Host-wide: a move of clouds away from this host, until it is over (see {@link MoveOut}). */
  moveOut: (id: string) => key<MoveOut>(`h!moveout!${id}`),
  /** Host-wide: clouds moving to this host, not serving until the move is decided (see {@link MoveIn}). */
  moveIn: (id: string) => key<MoveIn>(`h!movein!${id}`),
  /** Host-wide: where an ECI's cloud went when it left this host for another provider. */
  tombstone: (eci: string) => key<Tombstone>(`t!${eci}`),
  /** Host-wide claim codes by hash: the claim endpoint knows only the code. */
  claimIndex: (hash: string) => key<ClaimRecord>(`k!${hash}`),
  /** Host-wide app sources by content hash (sha256 hex): what the clouds' installed apps run. */
  appSource: (hash: string) => key<string>(`a!${hash}`),
  /** Host-wide: the content hash last installed from an app's URL on this host, which every install from that URL runs (docs/apps.md, "Updates"). */
  appUrl: (url: string) => key<string>(`u!${url}`),
};

export const ranges = {
  /** Every record of one cloud. */
  cloud: (id: string) => under<unknown>(cloud(id)),
  /** What activation loads: every record of a cloud but those under `~` (log, dead letters, claim codes, idempotency keys). */
  active: (id: string): Range<unknown> => ({ gte: cloud(id), lt: `${cloud(id)}~` }),
  entities: (id: string, rid: string) => under<unknown>(`${cloud(id)}ent!${rid}!`),
  exprStates: (id: string, rid: string) => under<unknown>(`${cloud(id)}ee!${rid}!`),
  logs: (id: string) => under<EpisodeLogEntry>(`${cloud(id)}~log!`),
  deadLetters: (id: string) => under<DeadLetter>(`${cloud(id)}~dead!`),
  forwarded: (id: string) => under<number>(`${cloud(id)}~fwd!`),
  claims: (id: string) => under<Omit<ClaimRecord, 'cloudId'>>(`${cloud(id)}~claim!`),
  idemSeqs: (id: string) => under<string>(`${cloud(id)}~idemseq!`),
  passkeys: (id: string) => under<PasskeyRecord>(`${cloud(id)}~pk!`),
  sessions: (id: string) => under<SessionRecord>(`${cloud(id)}~sess!`),
  /** Due keys up to and including time `at`. */
  duesUntil: (at: number): Range<null> => ({ gte: 'd!', lt: `d!${pad(at + 1, 15)}` }),
  outbox: () => under<OutboxEntry>('o!'),
  inbox: () => under<InboxEntry>('n!'),
  eciIndex: () => under<CloudId>('i!'),
  movesOut: () => under<MoveOut>('h!moveout!'),
  movesIn: () => under<MoveIn>('h!movein!'),
  /** What kumo kept of realms before memberships (`h!realm!<realm>!<host>`). */
  realmPartitions: () => under<number[]>('h!realm!'),
};

/** A cloud record, by kind, as {@link parseCloudKey} reads its key. */
export type CloudKey =
  | { kind: 'meta' }
  | { kind: 'eci'; eci: Eci }
  | { kind: 'kid'; childId: CloudId }
  | { kind: 'rs'; rid: string }
  | { kind: 'ent'; rid: string; name: string }
  | { kind: 'ee'; rid: string; rule: string }
  | { kind: 'sch'; sid: string }
  | { kind: 'eid'; eid: string }
  | { kind: 'claim'; hash: string }
  | { kind: 'dead'; seq: number }
  | { kind: 'fwd'; eci: string; eid: string }
  | { kind: 'idem'; key: string }
  | { kind: 'idemseq'; seq: number }
  | { kind: 'log'; seq: number }
  | { kind: 'pk'; credId: string }
  | { kind: 'sess'; sid: string };

/** The value type of each kind of cloud record. */
interface RecordValues {
  meta: Stored<CloudMeta>;
  eci: Stored<EciInfo>;
  kid: Stored<ChildInfo>;
  rs: InstallRecord;
  ent: unknown;
  ee: unknown;
  sch: ScheduleRecord;
  eid: number;
  claim: Omit<ClaimRecord, 'cloudId'>;
  dead: DeadLetter;
  fwd: number;
  idem: IdempotencyRecord;
  idemseq: string;
  log: EpisodeLogEntry;
  pk: PasskeyRecord;
  sess: SessionRecord;
}

/** One record of a cloud: its key, what the key says, and its value, typed by kind. */
export type CloudRecord = { [K in CloudKey['kind']]: Extract<CloudKey, { kind: K }> & { key: Key<RecordValues[K]>; value: RecordValues[K] } }[CloudKey['kind']];

/** What a key of cloud `id` holds; undefined for a key outside the cloud or of no known kind. */
export function parseCloudKey(id: string, k: string): CloudKey | undefined {
  const prefix = cloud(id);
  if (!k.startsWith(prefix)) return undefined;
  const rest = k.slice(prefix.length);
  if (rest === 'meta') return { kind: 'meta' };
  const bang = rest.indexOf('!');
  if (bang < 0) return undefined;
  const tail = rest.slice(bang + 1);
  const two = (): [string, string] => {
    const sep = tail.indexOf('!');
    return [tail.slice(0, sep), tail.slice(sep + 1)];
  };
  switch (rest.slice(0, bang)) {
    case 'eci':
      return isEci(tail) ? { kind: 'eci', eci: tail } : undefined;
    case 'kid':
      return isCloudId(tail) ? { kind: 'kid', childId: tail } : undefined;
    case 'rs':
      return { kind: 'rs', rid: tail };
    case 'ent': {
      const [rid, name] = two();
      return { kind: 'ent', rid, name };
    }
    case 'ee': {
      const [rid, rule] = two();
      return { kind: 'ee', rid, rule };
    }
    case 'sch':
      return { kind: 'sch', sid: tail };
    case 'eid':
      return { kind: 'eid', eid: tail };
    case '~claim':
      return { kind: 'claim', hash: tail };
    case '~dead':
      return { kind: 'dead', seq: Number(tail) };
    case '~fwd': {
      const [eci, eid] = two();
      return { kind: 'fwd', eci, eid };
    }
    case '~idem':
      return { kind: 'idem', key: tail };
    case '~idemseq':
      return { kind: 'idemseq', seq: Number(tail) };
    case '~log':
      return { kind: 'log', seq: Number(tail) };
    case '~pk':
      return { kind: 'pk', credId: tail };
    case '~sess':
      return { kind: 'sess', sid: tail };
    default:
      return undefined;
  }
}

/** The due-index key of a schedule. */
export const dueKeyOf = (cloudId: string, rec: Pick<ScheduleRecord, 'next' | 'id'>): Key<null> => keys.due(rec.next, cloudId, rec.id);

/** The parts of a due-index key. */
export function parseDueKey(k: Key<null>): { at: number; cloudId: CloudId; sid: string } {
  const [, at, cloudId, sid] = k.split('!');
  return { at: Number(at), cloudId: cloudId as CloudId, sid: sid! };
}

/** The sequence number of an outbox or inbox key. */
export function seqOf(k: Key<OutboxEntry> | Key<InboxEntry>): number {
  return Number(k.slice(2));
}

/** The ECI of an ECI-index key. */
export function eciOfIndexKey(k: Key<CloudId>): Eci {
  return k.slice(2) as Eci;
}

/**
 * Key shapes whose last part is a secret (an ECI, a claim code's hash, an idempotency key, the ECI
 * and eid of a forwarded event, an app's URL). A sealed store keeps a keyed hash of that part in
 * its place (store/sealing.ts): the match is the part of the key kept as it is.
 */
const SECRET_TAIL = /^(?:[iktu]!|c![^!]+!(?:eci|~fwd|~idem|~claim)!)/;

/** Where the secret part of `key` starts, or -1 when it has none. */
export function secretTailAt(key: string): number {
  const m = SECRET_TAIL.exec(key);
  return m === null ? -1 : m[0].length;
}

/** The cloud whose records `key` is of (`c!{id}!…`), or undefined for a host-wide key. */
export function cloudOfKey(key: string): CloudId | undefined {
  if (!key.startsWith('c!')) return undefined;
  const end = key.indexOf('!', 2);
  return end < 0 ? undefined : (key.slice(2, end) as CloudId);
}

/** Host-wide keys whose value belongs to one cloud, named by its `cloudId` (its pending events): sealed with that cloud's key. */
export function ownedByValue(key: string): boolean {
  return key.startsWith('o!') || key.startsWith('n!');
}

/** A sealed store's own record of cloud `id`'s data key, wrapped by the key of its bucket `b` (store/sealing.ts). */
export const wrappedKey = (b: number, id: string): string => `x!${pad(b, 4)}!${id}`;

/** The wrapped data keys of bucket `b`. */
export const wrappedKeys = (b: number): Range<Uint8Array> => under(wrappedKey(b, ''));

/** Is `key` one of a sealed store's own records of a data key (`x!`): never one of the kernel's keys? */
export function isKeyRecord(key: string): boolean {
  return key.startsWith('x!');
}

const PLAIN_CLOUD_RANGE = /^c![^!]+!(?!eci!|~fwd!|~idem!|~claim!)[^!]+!/;

/** Does a range beginning at `gte` hold only keys with no secret part (so a sealed store lists them as stored)? */
export function plainRange(gte: string): boolean {
  return /^[dohna]!/.test(gte) || PLAIN_CLOUD_RANGE.test(gte);
}
