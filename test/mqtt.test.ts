import { describe, expect, it, vi } from 'vitest';
import { counts, tallyCloud } from './realm-harness.ts';
import { eventTopic, mqttDevice, mqttHost, publish, startMqttRealm, subscribe } from './mqtt-harness.ts';
import { post, rootEci } from './server-harness.ts';
import { keepMqttCredentials, mqttCredentials } from '../client/index.ts';

// MQTT devices through nats-server's MQTT listener: real nats-server, real `kumo serve` hosts, and
// Eclipse Mosquitto's clients as the devices.

describe('MQTT devices', { timeout: 120_000 }, () => {
  it('QoS 1 readings published while no kumo host runs are all applied once after hosts start, whichever host takes them', async () => {
    const realm = await startMqttRealm();
    let a = await mqttHost(realm, 'a');
    const { eci, creds } = await mqttDevice(a.url, await rootEci(a), 'thermo');
    a.proc.kill('SIGKILL');
    await a.stop();
    // Every kumo host is down: each reading is acknowledged (PUBACK) by nats-server alone.
    const TOTAL = 300;
    expect(
      await publish(
        creds,
        eventTopic(creds, 'tally', 'mark'),
        Array.from({ length: TOTAL }, (_, n) => ({ n })),
      ),
    ).toBe(0);
    // Host b, which does not hold the device's cloud, starts first: it takes readings and routes
    // them to host a once a is back.
    const b = await mqttHost(realm, 'b');
    a = await mqttHost(realm, 'a', { dataDir: a.dataDir });
    await vi.waitFor(async () => expect(Object.keys(await counts(b.url, eci))).toHaveLength(TOTAL), { timeout: 60_000, interval: 500 });
    const seen = await counts(a.url, eci);
    expect(Array.from({ length: TOTAL }, (_, n) => seen[String(n)])).toEqual(Array.from({ length: TOTAL }, () => 1));
  });

  it('a device reads and writes only its own topics: a wildcard subscriber sees nothing of other devices, and a publish as another device is dropped', async () => {
    const realm = await startMqttRealm();
    const a = await mqttHost(realm, 'a');
    const owner = await rootEci(a);
    const devA = await mqttDevice(a.url, owner, 'a');
    const devB = await mqttDevice(a.url, owner, 'b');
    const wildcards = ['#', 'kumo/#', '+/+/pushes/+/+', '+/+/events/+/+/+', devB.creds.pushes];
    const spy = subscribe(devA.creds, [...wildcards, devA.creds.pushes]);
    const own = subscribe(devB.creds, [devB.creds.pushes]);
    expect(await spy.granted).toEqual([...wildcards.map(() => 128), 1]);
    expect(await own.granted).toEqual([1]);
    // B sends readings and is pushed to; A publishes as B (nats-server acknowledges and drops it).
    expect(await publish(devB.creds, eventTopic(devB.creds, 'tally', 'mark'), [{ n: 1 }])).toBe(0);
    expect(await publish(devB.creds, eventTopic(devB.creds, 'tally', 'shout'), [{ n: 2 }])).toBe(0);
    await vi.waitFor(() => expect(own.messages()).toEqual([`${devB.creds.pushes.slice(0, -1)}shout {"n":2}`]));
    expect(await publish(devA.creds, eventTopic(devB.creds, 'tally', 'mark'), [{ n: 99 }])).toBe(0);
    // B's next reading comes after A's publish in the device stream, and one host applies B's
    // events in order: once it is in, A's would have been.
    expect(await publish(devB.creds, eventTopic(devB.creds, 'tally', 'mark'), [{ n: 3 }])).toBe(0);
    await vi.waitFor(async () => expect(await counts(a.url, devB.eci)).toHaveProperty('3', 1));
    expect(await counts(a.url, devB.eci)).toEqual({ '1': 1, '3': 1 });
    // A's own push arrives last: before it, A's subscriber had nothing of B.
    expect(await publish(devA.creds, eventTopic(devA.creds, 'tally', 'shout'), [{ n: 7 }])).toBe(0);
    await vi.waitFor(() => expect(spy.messages()).toContainEqual(`${devA.creds.pushes.slice(0, -1)}shout {"n":7}`));
    expect(spy.messages()).toEqual([`${devA.creds.pushes.slice(0, -1)}shout {"n":7}`]);
    // Credentials are for device ECIs only: never the owner's.
    expect(await post(`${a.url}/c/${owner}/mqtt`)).toMatchObject({ status: 403, body: { error: { code: 'POLICY_DENIED' } } });
    expect(await post(`${a.url}/c/${await tallyCloud(a.url, owner, 'plain')}/mqtt`)).toMatchObject({ status: 403 });
  });
});

describe('MQTT device credentials', { timeout: 60_000 }, () => {
  it("expire (nats-server refuses them after), and kumo/client keeps a device's fresh by itself", async () => {
    const realm = await startMqttRealm();
    const a = await mqttHost(realm, 'a', { args: ['--mqtt-lifetime', '3s'] });
    const { eci, creds } = await mqttDevice(a.url, await rootEci(a), 'thermo');
    const { expires } = creds as typeof creds & { expires: number };
    expect(expires - Date.now()).toBeLessThanOrEqual(3_000);
    expect(await publish(creds, eventTopic(creds, 'tally', 'mark'), [{ n: 1 }])).toBe(0);
    const seen: Array<{ password: string; expires: number }> = [];
    const kept = keepMqttCredentials(a.url, eci, (c) => seen.push(c));
    await vi.waitFor(() => expect(seen.length).toBeGreaterThanOrEqual(2), { timeout: 10_000, interval: 100 });
    kept.stop();
    expect(new Set(seen.map((c) => c.password)).size).toBe(seen.length);
    expect(seen[1]!.expires).toBeGreaterThan(seen[0]!.expires);
    await new Promise((r) => setTimeout(r, Math.max(0, expires + 1_000 - Date.now())));
    expect(await publish(creds, eventTopic(creds, 'tally', 'mark'), [{ n: 2 }])).not.toBe(0); // expired: refused
    const fresh = await mqttCredentials(a.url, eci);
    expect(await publish({ ...creds, password: fresh.password }, eventTopic(creds, 'tally', 'mark'), [{ n: 3 }])).toBe(0);
    await vi.waitFor(async () => expect(await counts(a.url, eci)).toEqual({ '1': 1, '3': 1 }));
    expect(await kept.stopped).toBeNull();
    // A refusal for good stops the renewal, and says why.
    const gone = keepMqttCredentials(a.url, await rootEci(a), () => undefined);
    expect(await gone.stopped).toMatchObject({ code: 'POLICY_DENIED' });
  });
});
