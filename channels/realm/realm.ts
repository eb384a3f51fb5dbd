import { retrying, cryptoIds, eciOfIndexKey, InvalidArgsError, keys, KumoError, messageOf, partitionOf, put, ranges, RealmUnavailableError, type Host, type IdGenerator, type Router, type Store } from '../../kernel/index.ts';
import { DeviceGateway } from './device-gateway.ts';
import { NatsLink, RequestFailed } from './nats-link.ts';
import { deviceSigner } from './nats-jwt.ts';
import { Placement, type HostRecord } from './placement.ts';
import { RealmRouter } from './realm-router.ts';
import { Mover } from './mover.ts';
import { RealmService } from './realm-service.ts';
import { pack, resources, subjects, type Request } from './wire.ts';
import { checkMembership, readMembership } from './membership.ts';
import { MoveSeal } from './move-seal.ts';
import { StartError } from '../start-error.ts';

export interface RealmOptions {
  /** NATS server URLs (`nats://[user:pass@]host:port`). */
  servers: string[];
  /** The realm's name: hosts sharing it (and the NATS system) are one realm. Default `kumo`. */
  realm?: string;
  /** The contents of a NATS credentials file. */
  creds?: Uint8Array;
  /** TLS to the NATS servers (see channels/realm/nats-link.ts, `LinkOptions.tls`). */
  tls?: { ca?: string; cert?: string; key?: string };
  /** Partitions a host claims when it first joins (new clouds go only there). Default 64. */
  partitions?: number;
  /** Replicas of the inbox stream and the placement bucket (3 on a three-node NATS cluster). Default 1. */
  replicas?: number;
  /** How long to wait for another host's answer (ms). Default 10 s. */
  requestMs?: number;
  /** How long JetStream remembers a message id to drop a repeat (ms). Default 2 min. */
  duplicateWindowMs?: number;
  /** MQTT devices through nats-server's MQTT listener (channels/realm/device-gateway.ts). */
  mqtt?: MqttOptions;
}

export interface MqttOptions {
  /** The seed (`SA…`) of the realm account's key, or one of its signing keys, that signs device credentials. */
  key?: string;
  /** The realm account's public key, when `key` is one of its signing keys. */
  account?: string;
  /** The MQTT listener devices connect to (`mqtt://host:1883`), told to them with their credentials. */
  url?: string;
  /** The most the device stream keeps while no host takes its events (bytes). Default 1 GiB. */
  backlogBytes?: number;
  /** How long device credentials last (ms). Default 24 h. */
  lifetimeMs?: number;
}

/** A host's membership of a realm. */
export interface Realm {
  readonly name: string;
  readonly hostId: string;
  /** The kernel's router: to the host of any ECI of the realm. */
  readonly router: Router;
  /** The partitions this host owns. */
  readonly partitions: number[];
  /** The MQTT device gateway, once attached, when the realm has MQTT. */
  readonly devices: DeviceGateway | null;
  /** Resolves once the host has joined and serves the realm (at once, but for a host restarting: see rejoin.ts). */
  readonly joined: Promise<void>;
  /** Is the host joined and connected to NATS right now? */
  readonly connected: boolean;
  /**
   * Resolves, with the reason, when the realm shows a newer claim on what this host serves (its id
   * joined again elsewhere, a partition of it owned by another host): the host has stopped serving
   * the realm by then, and must stop serving its clouds at once. Never resolves otherwise.
   */
  readonly fenced: Promise<string>;
  /** The hosts that have said where they are (none before the join). */
  knownHosts(): HostRecord[];
  /** The host that has `eci` by the placement map, when known. */
  hostOf(eci: string): string | undefined;
  /** Serve the host's clouds to the realm: answer requests and apply its durable inbox. */
  attach(host: Host): Promise<void>;
  /** Tell the realm where this host serves HTTP. */
  register(record: Omit<HostRecord, 'id'>): Promise<void>;
  /** The host begins to stop: its moves not yet decided stop where they stand (channels/realm/mover.ts, `interrupt`). */
  interrupt(): void;
  /** Stop serving the realm (other hosts then get NO_RESPONDERS for this host's clouds). */
  stop(): Promise<void>;
  /** Close the connection (after the host has closed: its last outgoing events are flushed). */
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const JETSTREAM_WAIT_MS = 20_000;

/**
 * Join a realm of hosts over NATS (docs/realm.md) as host `hostId`, before the host opens: connect,
 * make sure the realm's inbox stream and placement bucket exist, load the placement map, and own
 * partitions. A host joining for the first time with clouds of its own (it ran alone before) claims
 * the partitions they live in; any such partition another host owns already gets its ECIs entered
 * in the moved-cloud table instead, so every ECI keeps reaching its cloud.
 */
export async function joinRealm(o: RealmOptions, hostId: string, store: Store, ids: IdGenerator = cryptoIds): Promise<Realm> {
  const name = o.realm ?? 'kumo';
  if (!NAME.test(name)) throw new InvalidArgsError('a realm name is 1 to 32 characters of [A-Za-z0-9_-]');
  if (o.servers.length === 0) throw new InvalidArgsError('a realm needs at least one NATS server URL');
  const member = await readMembership(store);
  checkMembership(member, { realm: name, hostId });
  const remembered = member?.partitions;
  const token = member?.token ?? Buffer.from(ids.bytes(32)).toString('base64url');
  const moveSeal = new MoveSeal();
  const link = await NatsLink.connect({ servers: o.servers, ...(o.creds ? { creds: o.creds } : {}), ...(o.tls ? { tls: o.tls } : {}), name: `kumo host ${hostId}` }).catch((err: unknown) => {
    throw new RealmUnavailableError(`connect to NATS at ${shown(o.servers)}`, messageOf(err));
  });
  try {
    const replicas = o.replicas ?? 1;
    // The inbox stream, and the placement bucket then its map, at the same time (one waits for JetStream as long as the other).
    const [, placement] = await Promise.all([
      untilJetStream(() => link.ensureStream(resources.inboxStream(name), [subjects.inboxes(name)], { replicas, duplicateWindowMs: o.duplicateWindowMs ?? 120_000 })),
      untilJetStream(async () => {
        const p = new Placement(await link.bucket(resources.placementBucket(name), replicas), hostId);
        await p.start();
        return p;
      }),
    ]);
    // The id first: nothing is claimed or served for a host id another data directory holds.
    await untilJetStream(
      () => placement.claimHost(token, name, () => answers(link, subjects.rpc(name, hostId)), moveSeal.publicKey),
      (err) => err instanceof StartError,
    );
    let partitions = placement.partitionsOf(hostId);
    if (partitions.length === 0) {
      // Those of its own clouds first (and those it owned before, if the realm forgot them).
      const own = (await store.keys(ranges.eciIndex())).map(eciOfIndexKey);
      const { mine, taken } = await untilJetStream(() => placement.claim(o.partitions ?? 64, [...(remembered ?? []), ...own.map((e) => partitionOf(e))], ids));
      for (const eci of own) if (taken.includes(partitionOf(eci))) await placement.setMoved(eci, hostId);
      partitions = mine;
    }
    if (partitions.length === 0) throw new InvalidArgsError(`realm ${name} has no partition left for host ${hostId}`);
    // A host restarting opened on the partitions it remembers: it makes clouds only there, so it must still own them.
    const lost = (remembered ?? []).filter((p) => !partitions.includes(p));
    if (lost.length > 0) throw new RealmUnavailableError(`rejoin realm ${name}`, `its placement map gives partitions ${lost.join(', ')}, where host ${hostId} made clouds, to other hosts`);
    if (!sameList(remembered, partitions) || member?.token !== token) await store.write([put(keys.membership(), { realm: name, hostId, token, partitions })]);
    const router = new RealmRouter({ realm: name, self: hostId, link, placement, requestMs: o.requestMs ?? 10_000, mqtt: o.mqtt !== undefined });
    const signer = o.mqtt?.key ? deviceSigner(o.mqtt.key, o.mqtt.account) : undefined;
    let service: RealmService | null = null;
    let devices: DeviceGateway | null = null;
    let mover: Mover | null = null;
    let fence!: (reason: string) => void;
    const fenced = new Promise<string>((resolve) => (fence = resolve));
    // Fenced: stop answering and consuming at once (other hosts then go to the one that has the claim now).
    placement.arm(partitions, (reason) => {
      void devices?.stop().catch(() => undefined);
      void service?.stop().catch(() => undefined);
      fence(reason);
    });
    return {
      name,
      hostId,
      router,
      partitions,
      joined: Promise.resolve(),
      fenced,
      get devices() {
        return devices;
      },
      get connected() {
        return link.connected;
      },
      knownHosts: () => placement.knownHosts(),
      hostOf: (eci) => placement.hostOf(eci),
      interrupt: () => mover?.interrupt(),
      async attach(host) {
        mover = new Mover(hostId, placement, router, host, moveSeal);
        service = new RealmService({ realm: name, self: hostId, link, router, placement, host, mover });
        // Known to the realm (a target of moves) whether or not it serves HTTP; serving adds its URL.
        await Promise.all([service.start(), placement.register({ id: hostId, since: Date.now() })]);
        await mover.recover();
        if (o.mqtt) {
          const gateway = new DeviceGateway({
            realm: name,
            link,
            host,
            replicas,
            backlogBytes: o.mqtt.backlogBytes ?? 1024 ** 3,
            lifetimeMs: o.mqtt.lifetimeMs ?? 24 * 3_600_000,
            ...(signer ? { signer } : {}),
            ...(o.mqtt.url ? { url: o.mqtt.url } : {}),
          });
          await untilJetStream(() => gateway.start());
          devices = gateway;
        }
      },
      register: (record) => placement.register({ ...record, id: hostId }),
      async stop() {
        mover?.interrupt();
        await devices?.stop();
        await service?.stop();
        placement.stop();
      },
      close: () => link.close(),
    };
  } catch (err) {
    await link.close();
    if (err instanceof KumoError || err instanceof StartError) throw err;
    throw new RealmUnavailableError(`join realm ${name} at ${shown(o.servers)}`, messageOf(err));
  }
}

function sameList(a: number[] | undefined, b: number[]): boolean {
  return a !== undefined && a.length === b.length && a.every((p, i) => p === b[i]);
}

/** Server URLs without their passwords, for messages. */
function shown(servers: string[]): string {
  return servers.map((s) => s.replace(/\/\/([^:@/]+):[^@/]*@/, '//$1:***@')).join(', ');
}

/** Does a host answer on `subject`? A host that is subscribed but does not answer (stopped) counts as one. */
async function answers(link: NatsLink, subject: string): Promise<boolean> {
  try {
    await link.request(subject, pack({ op: 'ping' } satisfies Request), 2_000);
    return true;
  } catch (err) {
    if (err instanceof RequestFailed && err.reason === 'no-responders') return false;
    if (err instanceof RequestFailed && err.reason === 'timeout') return true;
    throw err;
  }
}

/** Retry while JetStream is still starting (a fresh server, or a cluster electing its leader); never an error `final` says is. */
function untilJetStream<T>(fn: () => Promise<T>, final?: (err: unknown) => boolean): Promise<T> {
  return retrying(fn, { firstMs: 100, maxMs: 1000, deadline: Date.now() + JETSTREAM_WAIT_MS, ...(final ? { final } : {}) });
}
