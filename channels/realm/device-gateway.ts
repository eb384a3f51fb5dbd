import { backoff, isTransient, PolicyDeniedError, type Host, type PushMessage } from '../../kernel/index.ts';
import type { Delivery, NatsLink } from './nats-link.ts';
import { deviceJwt, type DeviceSigner } from './nats-jwt.ts';
import { resources, subjects, topicOf } from './wire.ts';
import { RETRY } from './retry.ts';

export interface DeviceGatewayOptions {
  realm: string;
  link: NatsLink;
  host: Host;
  /** Replicas of the device stream. */
  replicas: number;
  /** The most the device stream holds while no host takes its events (bytes). */
  backlogBytes: number;
  /** What signs device credentials; without it this host hands out none (it still applies devices' events). */
  signer?: DeviceSigner;
  /** Where devices connect: the MQTT listener of the realm's nats-server, told to devices with their credentials. */
  url?: string;
  /** How long device credentials last (ms). */
  lifetimeMs: number;
}

/** What a device needs to speak MQTT to its cloud. */
export interface MqttCredentials {
  /** The MQTT listener, when the operator told the host (`--mqtt-url`). */
  url?: string;
  /** Any name: nats-server reads only the password. */
  username: string;
  /** A bearer JWT allowing this device's own topics and nothing else. */
  password: string;
  /** Publish an event here, its attrs as a JSON object (`{domain}` and `{type}` filled in). */
  events: string;
  /** Subscribe here for what rules push to the device's ECI (the last level is the push's name). */
  pushes: string;
  /** When the password stops working (ms): ask for new credentials before (kumo/client's `keepMqttCredentials` does). */
  expires: number;
}

/** Push names that can be a topic level as they are. */
const TOKEN = /^[A-Za-z0-9_-]{1,100}$/;
const utf8 = { decoder: new TextDecoder(), encoder: new TextEncoder() };

/** Publish a push made on this host for a device listening on MQTT (a name that cannot be a topic level is not sent). */
export function devicePush(link: NatsLink, realm: string, m: PushMessage): void {
  if (TOKEN.test(m.name)) link.publish(subjects.devicePush(realm, m.eci, m.name), utf8.encoder.encode(JSON.stringify(m.data)));
}

/**
 * MQTT devices through nats-server's MQTT listener (README, "MQTT devices"). A device publishes its
 * events on `kumo/<realm>/events/<eci>/<domain>/<type>`; the realm's device stream (a JetStream work
 * queue) captures those subjects, so an event is kept while no host runs. Every host consumes the
 * stream through one shared durable consumer, a queue across hosts: whichever host takes a message
 * runs it through the normal dispatch (on this host or the one holding the ECI), with an idempotency
 * key made of the message's place in the stream, and acknowledges it only once the episode has
 * committed or refused it for good. A redelivery after a crash is therefore applied once.
 *
 * Pushes made on this host go out on `kumo/<realm>/pushes/<eci>/<name>` as JSON. A device's
 * credentials (a bearer JWT) allow publishing on its own events topics and subscribing to its own
 * pushes, nothing else: no device reads or forges another's messages, wildcards included.
 */
export class DeviceGateway {
  private stopConsuming: (() => Promise<void>) | null = null;
  private readonly chains = new Map<string, Promise<void>>();
  private stopping = false;

  constructor(private readonly o: DeviceGatewayOptions) {}

  async start(): Promise<void> {
    const { link, realm } = this.o;
    await link.ensureStream(resources.deviceStream(realm), [subjects.deviceEvents(realm)], { replicas: this.o.replicas, maxBytes: this.o.backlogBytes });
    // A message waits 30 s for its host to answer before another host may take it (REMOTE_TIMEOUT is 10 s).
    this.stopConsuming = await link.consume(resources.deviceStream(realm), resources.deviceConsumer, subjects.deviceEvents(realm), (d) => this.take(d), 30_000);
  }

  /** Stop taking events; what is not acknowledged goes to another host (or this one, when it is back). */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.stopConsuming?.();
    await Promise.allSettled([...this.chains.values()]);
  }

  /** Does this host hand out credentials? */
  get signs(): boolean {
    return this.o.signer !== undefined;
  }

  /** MQTT credentials for a device ECI (tagged `device`) of any host of the realm. */
  async credentials(eci: string): Promise<MqttCredentials> {
    const { signer, realm } = this.o;
    if (!signer) throw new TypeError('this host has no key to sign MQTT credentials');
    const info = await this.o.host.eciInfo(eci);
    if (!info.tags.includes('device')) throw new PolicyDeniedError('MQTT credentials (they are for device ECIs, tagged "device")', eci);
    const events = subjects.deviceEvents(realm, eci);
    const pushes = subjects.devicePush(realm, eci, '');
    // `$MQTT.sub.>`: nats-server delivers a QoS 1 subscription there; no client may subscribe to it itself.
    // Whole seconds, as the JWT says it.
    const expires = Math.floor((Date.now() + this.o.lifetimeMs) / 1000) * 1000;
    const password = deviceJwt(signer, `device ${info.cloudId}`, [events], [pushes.slice(0, -1), `${pushes}>`, '$MQTT.sub.>'], expires);
    return {
      ...(this.o.url ? { url: this.o.url } : {}),
      username: 'device',
      password,
      events: topicOf(events).replace('*/*', '{domain}/{type}'),
      pushes: `${topicOf(pushes)}+`,
      expires,
    };
  }

  /** One device event, in order behind the earlier ones this host took for its ECI. */
  private take(d: Delivery): void {
    const [, , , eci = '', domain = '', type = ''] = d.subject.split('.');
    const previous = this.chains.get(eci) ?? Promise.resolve();
    const next = previous.then(() => this.apply(d, eci, domain, type));
    this.chains.set(eci, next);
    void next.finally(() => {
      if (this.chains.get(eci) === next) this.chains.delete(eci);
    });
  }

  private async apply(d: Delivery, eci: string, domain: string, type: string): Promise<void> {
    const payload = utf8.decoder.decode(d.data);
    let attrs: unknown = {};
    try {
      if (payload.trim() !== '') attrs = JSON.parse(payload);
    } catch {
      attrs = payload; // not JSON: the host refuses it (INVALID_EVENT), and counts the refusal
    }
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.o.host.event({ eci, domain, type, attrs, idempotencyKey: `mqtt.${d.id}` });
        d.ack();
        return;
      } catch (err) {
        // Refused for good (unknown ECI, policy, bad attrs, a rule that failed): nothing to retry.
        if (!isTransient(err)) {
          d.ack();
          return;
        }
        // Retried here rather than redelivered later, so the device's later events stay behind it.
        d.working();
        await backoff(attempt, RETRY);
      }
    }
    d.nak();
  }
}
