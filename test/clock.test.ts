import { describe, expect, it, vi } from 'vitest';
import { ManualClock, systemClock } from '../kernel/index.ts';

describe('ManualClock', () => {
  it('fires timeouts and intervals in time order as it moves, and not after they are cancelled', () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.timeout(() => fired.push(`t300@${clock.now()}`), 300);
    const every = clock.interval(() => fired.push(`i200@${clock.now()}`), 200);
    const never = clock.timeout(() => fired.push('never'), 100);
    never.cancel();
    clock.advance(250);
    expect(fired).toEqual(['i200@1200']);
    expect(clock.now()).toBe(1250);
    clock.advance(400);
    expect(fired).toEqual(['i200@1200', 't300@1300', 'i200@1400', 'i200@1600']);
    every.cancel();
    clock.set(5000);
    expect(fired).toHaveLength(4);
    expect(clock.pending).toBe(0);
  });

  it('runs timers a timer sets, when they fall due within the same move', () => {
    const clock = new ManualClock(0);
    const fired: number[] = [];
    clock.timeout(() => clock.timeout(() => fired.push(clock.now()), 10), 10);
    clock.advance(25);
    expect(fired).toEqual([20]);
  });
});

describe('systemClock', () => {
  it('fires timeouts and intervals on the timers, and not once cancelled', () => {
    vi.useFakeTimers();
    try {
      const fired: string[] = [];
      const once = systemClock.timeout(() => fired.push('once'), 100);
      const cancelled = systemClock.timeout(() => fired.push('cancelled'), 100);
      const every = systemClock.interval(() => fired.push('every'), 40);
      cancelled.cancel();
      vi.advanceTimersByTime(100);
      expect(fired).toEqual(['every', 'every', 'once']);
      every.cancel();
      once.cancel(); // already fired: nothing happens
      vi.advanceTimersByTime(1000);
      expect(fired).toEqual(['every', 'every', 'once']);
      expect(systemClock.now()).toBe(Date.now());
    } finally {
      vi.useRealTimers();
    }
  });
});
