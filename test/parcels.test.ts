import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decode } from '../kernel/index.ts';
import { messagesOf, Parcels } from '../channels/realm/parcels.ts';
import type { InboxMessage } from '../channels/realm/wire.ts';

const event = (eci: string, eid: string, attrs: Record<string, unknown> = {}): InboxMessage => ({
  op: 'receive',
  eci,
  event: { eid, domain: 'd', type: 't', attrs, time: 1 },
  from: { host: 'a', cloudId: 'c1' },
});

/** A JetStream stand-in that records what it stores and lets the test settle each store. */
function recorder() {
  const stored: Array<{ subject: string; messages: InboxMessage[]; msgId: string; bytes: number; settle: (err?: Error) => void }> = [];
  const store = (subject: string, data: Uint8Array, msgId: string) =>
    new Promise<void>((resolve, reject) => stored.push({ subject, messages: messagesOf(decode(data)), msgId, bytes: data.length, settle: (err) => (err ? reject(err) : resolve()) }));
  return { stored, parcels: new Parcels(store) };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('parcels for durable inboxes', () => {
  it('a lone message goes out at once, alone, under its own id; what comes while it is stored goes in the next parcel', async () => {
    const { stored, parcels } = recorder();
    const first = parcels.send('in.b', event('e1', 'x1'), 'e1.x1');
    await tick();
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ subject: 'in.b', msgId: 'e1.x1', messages: [event('e1', 'x1')] });
    const later = [parcels.send('in.b', event('e2', 'x2'), 'e2.x2'), parcels.send('in.b', event('e1', 'x3'), 'e1.x3')];
    await tick();
    expect(stored).toHaveLength(1); // one parcel in flight per inbox
    stored[0]!.settle();
    await first;
    await tick();
    expect(stored).toHaveLength(2);
    expect(stored[1]!.messages).toEqual([event('e2', 'x2'), event('e1', 'x3')]);
    expect(stored[1]!.msgId).toMatch(/^parcel\./);
    stored[1]!.settle();
    await Promise.all(later);
  });

  it('inboxes of different hosts do not wait for each other', async () => {
    const { stored, parcels } = recorder();
    void parcels.send('in.b', event('e1', 'x1'), 'e1.x1');
    void parcels.send('in.c', event('e2', 'x2'), 'e2.x2');
    await tick();
    expect(stored.map((s) => s.subject)).toEqual(['in.b', 'in.c']);
  });

  it('a parcel that is not stored fails every message in it, and the next parcel still goes', async () => {
    const { stored, parcels } = recorder();
    const first = parcels.send('in.b', event('e1', 'x1'), 'e1.x1');
    const two = [parcels.send('in.b', event('e1', 'x2'), 'e1.x2'), parcels.send('in.b', event('e1', 'x3'), 'e1.x3')];
    await tick();
    stored[0]!.settle();
    await first;
    await tick();
    stored[1]!.settle(new Error('no JetStream'));
    for (const p of two) await expect(p).rejects.toThrow('no JetStream');
    const after = parcels.send('in.b', event('e1', 'x4'), 'e1.x4');
    await tick();
    expect(stored).toHaveLength(3);
    stored[2]!.settle();
    await after;
  });

  it('the same messages make the same parcel id; other messages another', async () => {
    const ids: string[] = [];
    const parcels = new Parcels((_s, _d, msgId) => Promise.resolve(void ids.push(msgId)));
    for (const batch of [
      ['a', 'b'],
      ['a', 'b'],
      ['a', 'c'],
    ]) {
      const hold = parcels.send('in.x', event('e0', 'hold'), 'hold');
      const sent = batch.map((id) => parcels.send('in.x', event('e', id), id));
      await Promise.all([hold, ...sent]);
    }
    const parcelIds = ids.filter((id) => id.startsWith('parcel.'));
    expect(parcelIds).toHaveLength(3);
    expect(parcelIds[0]).toBe(parcelIds[1]);
    expect(parcelIds[2]).not.toBe(parcelIds[0]);
  });

  it('property: every message arrives once, in the order handed in, in parcels of at most 256 KiB (a bigger message alone)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 300_000 }), { minLength: 1, maxLength: 40 }), async (sizes) => {
        const got: InboxMessage[][] = [];
        const bytes: number[] = [];
        const parcels = new Parcels(async (_s, data) => {
          got.push(messagesOf(decode(data)));
          bytes.push(data.length);
        });
        const sent = sizes.map((n, i) => event('e', `x${i}`, { pad: 'p'.repeat(n) }));
        await Promise.all(sent.map((m) => parcels.send('in.x', m, m.event.eid)));
        expect(got.flat()).toEqual(sent);
        got.forEach((parcel, i) => {
          if (parcel.length > 1) expect(bytes[i]).toBeLessThanOrEqual(256 * 1024 + 5);
        });
      }),
      { numRuns: 30 },
    );
  });

  it('reads a lone message stored before parcels as a parcel of one', () => {
    expect(messagesOf(event('e', 'x'))).toEqual([event('e', 'x')]);
  });
});
