import { decode, encode, type PushMessage, type RequestOf, type Request as KernelRequest } from '../../kernel/index.ts';

/**
 * What hosts of a realm say to each other, in msgpack (plain maps). Subjects, for realm R:
 *
 *   kumo.R.rpc.<host>     requests to one host, core request/reply: the kernel's request values
 *                         as they are (kernel/requests/request.ts), and the realm's own below
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

/** The realm's own requests, about its streams and moves (answered by the realm service, not the kernel). */
export type RealmRequest =
  | { op: 'follow'; eci: string; lease: string }
  | { op: 'renew'; lease: string }
  | { op: 'unfollow'; lease: string }
  /** Which of the requests asked about (by reply subject) this host is working on. */
  | { op: 'ping'; working?: string[] }
  /** A part of a bundle moving here. */
  | { op: 'moveChunk'; id: string; seq: number; data: Uint8Array }
  /** All parts of move `id` from host `from` have been sent: land them. */
  | { op: 'moveLanding'; id: string; from: string; chunks: number }
  /** Move `id` was decided: act on it. */
  | { op: 'moveDecided'; id: string };

/**
 * A request to another host. One about an ECI may carry `forwarded`: the host it reached passed it
 * on once already (its cloud had moved), so it is not passed on again.
 */
export type Request = (KernelRequest | RealmRequest) & { forwarded?: boolean };

/** What the realm's own requests answer. */
export interface RealmAnswers {
  follow: { subject: string; leaseMs: number };
  renew: null;
  unfollow: null;
  ping: { host: string; working: string[] };
  moveChunk: null;
  moveLanding: null;
  moveDecided: null;
}

/** Its answer: a value, or a kumo error in its wire shape `{code, message, ...details}`. */
export type Reply = { ok: true; value: unknown } | { ok: false; error: Record<string, unknown> };

/** A message of a host's durable inbox: an event another host's cloud sent (`from`), or one sent back to its sender. */
export type InboxMessage = (RequestOf<'receive'> & { from: { host: string; cloudId: string } }) | RequestOf<'bounce'>;

/** Requests that change state: one sent and not answered may have been applied (OUTCOME_UNKNOWN). */
export const CHANGES: ReadonlySet<Request['op']> = new Set(['event', 'accept', 'claim', 'move', 'import', 'export', 'moveOut', 'moveLeave', 'moveStay', 'moveLand', 'moveLive', 'moveDrop', 'moveChunk', 'moveLanding', 'moveDecided']);

/** A push as it travels to other hosts. */
export interface PushWire {
  origin: string;
  push: PushMessage;
}

export const pack = (v: unknown): Uint8Array => encode(v);
export const unpack = <T>(b: Uint8Array): T => decode(b) as T;
