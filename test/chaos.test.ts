import { describe, expect, it } from 'vitest';
import { passed, runChaos, summary } from './chaos/chaos.ts';

// The chaos run's short form (docs/chaos.md): about a minute on one nats-server and one on a
// three-node cluster. `CHAOS_SEED=N npm test` replays a seed; `npm run chaos` runs longer.

const seed = Number(process.env['CHAOS_SEED'] ?? 21);

describe('the chaos run', () => {
  it.each(['single', 'cluster'] as const)('on %s nats-server: nothing acknowledged lost or doubled, no cloud served by two hosts, every host rejoins', { timeout: 600_000 }, async (nats) => {
    const report = await runChaos({ seed, seconds: 50, nats, log: (line) => process.env['CHAOS_LOG'] && console.log(line) });
    console.log(summary(report));
    expect(report.acknowledged).toBeGreaterThan(500);
    expect(Object.values(report.faults).reduce((a, b) => a + b, 0)).toBeGreaterThan(8);
    expect({ lost: report.lost, doubled: report.doubled, twoHosts: report.twoHosts, copies: report.copies, hostTrouble: report.hostTrouble, wrongAnswers: report.wrongAnswers }).toEqual({
      lost: [],
      doubled: [],
      twoHosts: [],
      copies: [],
      hostTrouble: [],
      wrongAnswers: [],
    });
    expect(passed(report)).toBe(true);
  });
});
