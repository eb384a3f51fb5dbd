import { describe, expect, it } from 'vitest';
import { Mailbox } from '../kernel/clouds/mailbox.ts';
import { Committer } from '../kernel/store/committer.ts';
import { publisher } from '../kernel/observe.ts';
import { subscribe } from '../kernel/index.ts';
import { memoryStore } from './helpers.ts';

describe('mailbox', () => {
  it('runs one message at a time in arrival order', async () => {
    const box = new Mailbox('c', 10);
    const order: string[] = [];
    let running = 0;
    let maxRunning = 0;
    const task = (name: string, ms: number) => async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, ms));
      order.push(name);
      running--;
      return name;
    };
    const results = await Promise.all([box.post(task('a', 5)), box.post(task('b', 0)), box.post(task('c', 1))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(maxRunning).toBe(1);
  });

  it('refuses with MAILBOX_FULL when the queue is at its limit', async () => {
    const box = new Mailbox('c', 2);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const first = box.post(() => gate); // running, not queued
    const queued = [box.post(() => Promise.resolve(1)), box.post(() => Promise.resolve(2))];
    await expect(box.post(() => Promise.resolve(3))).rejects.toMatchObject({ code: 'MAILBOX_FULL', status: 503 });
    release();
    await first;
    expect(await Promise.all(queued)).toEqual([1, 2]);
    expect(await box.post(() => Promise.resolve(4))).toBe(4);
  });

  it('keeps going after a message throws', async () => {
    const box = new Mailbox('c', 10);
    const bad = box.post(() => Promise.reject(new Error('boom')));
    const good = box.post(() => Promise.resolve('ok'));
    await expect(bad).rejects.toThrow('boom');
    expect(await good).toBe('ok');
    expect(box.idle).toBe(true);
  });
});

describe('group commit', () => {
  it('merges batches handed in together into one store write, resolving each after it', async () => {
    const store = await memoryStore();
    const writes: number[] = [];
    const real = store.write.bind(store);
    store.write = async (ops) => {
      writes.push(ops.length);
      await real(ops);
    };
    const batches: Array<{ episodes: number }> = [];
    const stop = subscribe('commit', (m) => batches.push(m));
    const committer = new Committer(store, publisher('test'));
    await Promise.all(Array.from({ length: 20 }, (_, i) => committer.commit([{ type: 'put', key: `k${i}`, value: i }])));
    stop();
    expect(writes.length).toBeLessThan(20);
    expect(writes.reduce((a, b) => a + b, 0)).toBe(20);
    expect(batches.reduce((a, b) => a + b.episodes, 0)).toBe(20);
    for (let i = 0; i < 20; i++) expect(await store.get(`k${i}`)).toBe(i);
  });

  it('rejects every waiter of a failed batch', async () => {
    const store = await memoryStore();
    store.write = () => Promise.reject(new Error('disk full'));
    const committer = new Committer(store, publisher('test'));
    const results = await Promise.allSettled([committer.commit([{ type: 'put', key: 'a', value: 1 }]), committer.commit([{ type: 'put', key: 'b', value: 1 }])]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});
