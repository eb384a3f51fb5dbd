import { describe, expect, it } from 'vitest';
import { Metrics } from '../channels/http/metrics.ts';
import { counter, install } from './fixtures.ts';
import { rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

const line = (text: string, name: string): string | undefined => text.split('\n').find((l) => l.startsWith(name));

describe('metrics', () => {
  it('counts each host on its own registry, refusals before the mailbox included', async () => {
    const a = await testHost({ rulesets: [counter], seed: 1 });
    const b = await testHost({ rulesets: [counter], seed: 2 });
    expect(a.host.id).not.toBe(b.host.id);
    const [ma, mb] = [new Metrics(a.host), new Metrics(b.host)];
    await install(a.host, a.root.eci, 'test.counter');
    for (let i = 0; i < 3; i++) await a.host.event({ eci: a.root.eci, domain: 'counter', type: 'inc' });
    await rejection(a.host.event({ eci: 'E0000AAAAAAAAAAAAAAAAAAAAAA', domain: 'counter', type: 'inc' }));
    await rejection(a.host.query({ eci: a.root.eci, rid: 'test.counter', name: 'secret' }));
    await rejection(a.host.event({ eci: a.root.eci, domain: 'bad domain', type: 'x' }));
    const [ta, tb] = [await ma.render(), await mb.render()];
    expect(line(ta, 'kumo_episodes_total{outcome="ok"}')).toBe('kumo_episodes_total{outcome="ok"} 4'); // the install, then 3
    expect(line(ta, 'kumo_refusals_total{kind="event",code="UNKNOWN_ECI"}')).toMatch(/ 1$/);
    expect(line(ta, 'kumo_refusals_total{kind="query",code="NOT_SHARED"}')).toMatch(/ 1$/);
    expect(line(ta, 'kumo_refusals_total{kind="event",code="INVALID_EVENT"}')).toMatch(/ 1$/);
    expect(line(ta, 'kumo_active_clouds')).toBe('kumo_active_clouds 1');
    expect(line(tb, 'kumo_episodes_total{')).toBeUndefined();
    expect(line(tb, 'kumo_refusals_total{')).toBeUndefined();
    ma.close();
    mb.close();
  });
});
