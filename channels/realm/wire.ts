import { decode, encode, type Accepted, type Refusal, type DeadLetter, type EciInfo, type EpisodeLogEntry, type EventResult, type KumoEvent, type PushMessage } from '../../kernel/index.ts';

/**
 * What hosts of a realm say to each other, in msgpack (plain maps). Subjects, for realm R:
 *
 *   kumo.R.rpc.<host>     requests to one host (event-and-wait, accept, query, …), core request/reply
 *   kumo.R.inbox.<host>   one host's durable inbox: a subject of the realm's JetStream work queue
 *   kumo.R.push.<eci>     pushes to an ECI, for sockets held on any host
 *   kumo.R.log.<cloud>    episode-log entries of a cloud while someone elsewhere follows it
 *
 * and for MQTT devices (nats-server's MQTT listener maps topic `a/b/c` to subject `a.b.c`), in JSON:
 *
 *   kumo.R.events.<eci>.<domain>.<type>   a device's event, its attrs as the payload: a subject of
 *                                         the realm's device stream, consumed by every host
 *   kumo.R.pushes.<eci>.<name>            what rules push to a device's ECI
 */
export const subjects = {
  rpc: (realm: string, host: string) => `kumo.${realm}.rpc.${host}`,
  inbox: (realm: string, host: string) => `kumo.${realm}.inbox.${host}`,
  inboxes: (realm: string) => `kumo.${realm}.inbox.*`,
  push: (realm: string, eci: string) => `kumo.${realm}.push.${eci}`,
  log: (realm: string, cloudId: string) => `kumo.${realm}.log.${cloudId}`,
  deviceEvents: (realm: string, eci = '*') => `kumo.${realm}.events.${eci}.*.*`,
  devicePush: (realm: string, eci: string, name = '*') => `kumo.${realm}.pushes.${eci}.${name}`,
};

/** A subject as an MQTT topic. */
export const topicOf = (subject: string): string => subject.replaceAll('.', '/');

/** Names of the realm's JetStream resources. */
export const resources = {
  inboxStream: (realm: string) => `KUMO_${realm}_INBOX`,
  placementBucket: (realm: string) => `KUMO_${realm}_PLACEMENT`,
  inboxConsumer: (host: string) => `inbox-${host}`,
  deviceStream: (realm: string) => `KUMO_${realm}_DEVICES`,
  /** One durable consumer shared by every host: a queue across them. */
  deviceConsumer: 'devices',
};

type EventFields = { eci: string; eid: string; domain: string; type: string; attrs: Record<string, unknown>; idempotencyKey?: string };

/**
 * A request to another host. One about an ECI may carry `forwarded`: the host it reached passed it
 * on once already (its cloud had moved), so it is not passed on again.
 */
export type Request = (
  | ({ op: 'event' } & EventFields)
  | ({ op: 'accept' } & EventFields)
  | { op: 'query'; eci: string; rid: string; name: string; args: Record<string, unknown> }
  | { op: 'claim'; code: string }
  | { op: 'eciInfo'; eci: string }
  | { op: 'log'; eci: string; limit: number }
  | { op: 'deadLetters'; eci: string }
  | { op: 'follow'; eci: string; lease: string }
  | { op: 'renew'; lease: string }
  | { op: 'unfollow'; lease: string }
  | { op: 'move'; eci: string; to: string }
  | { op: 'moveChunk'; id: string; seq: number; data: Uint8Array }
  | { op: 'moveLand'; id: string; from: string; chunks: number }
  | { op: 'moveDecided'; id: string }
  | { op: 'ping'; working?: string[] }
) & { forwarded?: boolean };

/** Requests that change state: one sent and not answered may have been applied (OUTCOME_UNKNOWN). */
export const CHANGES: ReadonlySet<Request['op']> = new Set(['event', 'accept', 'claim', 'move', 'moveChunk', 'moveLand', 'moveDecided']);

/** Its answer: a value, or a kumo error in its wire shape `{code, message, ...details}`. */
export type Reply = { ok: true; value: unknown } | { ok: false; error: Record<string, unknown> };

/** A message of a host's durable inbox. */
export type InboxMessage =
  | { kind: 'event'; eci: string; event: KumoEvent; idempotencyKey?: string; from: { host: string; cloudId: string } }
  | { kind: 'bounce'; cloudId: string; eci: string; event: KumoEvent; reason: Refusal };

/** A push as it travels to other hosts. */
export interface PushWire {
  origin: string;
  push: PushMessage;
}

/** What the answers of each request carry. */
export interface Answers {
  event: EventResult;
  accept: Accepted;
  query: unknown;
  claim: { eci: string };
  eciInfo: EciInfo & { cloudId: string };
  log: EpisodeLogEntry[];
  deadLetters: DeadLetter[];
  follow: { subject: string; leaseMs: number };
  renew: null;
  unfollow: null;
  move: MoveResult;
  moveChunk: null;
  moveLand: null;
  moveDecided: null;
  /** The host, and which of the requests asked about (by reply subject) it is working on. */
  ping: { host: string; working: string[] };
}

/** What a move did. */
export interface MoveResult {
  id: string;
  to: string;
  clouds: number;
  records: number;
}

export const pack = (v: unknown): Uint8Array => encode(v);
export const unpack = <T>(b: Uint8Array): T => decode(b) as T;
