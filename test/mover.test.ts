import { describe, expect, it } from 'vitest';
import { Mover } from '../channels/realm/mover.ts';
import { MoveSeal } from '../channels/realm/move-seal.ts';
import type { Placement } from '../channels/realm/placement.ts';
import { pack } from '../channels/realm/wire.ts';
import type { RealmRouter } from '../channels/realm/realm-router.ts';
import type { Host } from '../kernel/index.ts';

/** A mover whose host records the steps asked of it; placement and router are never reached here. */
function mover() {
  const steps: unknown[] = [];
  const host = { handle: (req: unknown) => (steps.push(req), Promise.resolve([])) } as unknown as Host;
  const placement = { onDecision: () => undefined, decision: () => undefined } as unknown as Placement;
  const seal = new MoveSeal();
  return { m: new Mover('h1', placement, {} as RealmRouter, host, seal), steps, seal };
}

describe('a subtree arriving in parts', () => {
  it('is refused, landing nothing, when a part in the middle never came', async () => {
    const { m, steps } = mover();
    m.chunk('mv1', 0, new Uint8Array([1]));
    m.chunk('mv1', 2, new Uint8Array([3]));
    await expect(m.land('mv1', 'h0', 3)).rejects.toMatchObject({ code: 'INVALID_ARGS', message: 'move mv1: 2 of 3 parts arrived' });
    expect(steps).toEqual([]);
  });

  it('lands what was sealed for this host, and refuses, landing nothing, what was sealed for another key or changed on the way', async () => {
    const { m, steps, seal } = mover();
    const bundle = { root: 'C1', clouds: [], records: [['c!C1!meta', { name: 'secret name' }]], outbox: [] };
    const sealed = new MoveSeal().sealFor(seal.publicKey, pack(bundle));
    expect(sealed.includes(Buffer.from('secret name'))).toBe(false);
    const other = new MoveSeal().sealFor(new MoveSeal().publicKey, pack(bundle));
    m.chunk('mv3', 0, other);
    await expect(m.land('mv3', 'h0', 1)).rejects.toMatchObject({ code: 'INVALID_ARGS', message: expect.stringContaining('not sealed for this host') });
    const changed = Buffer.from(sealed);
    changed[changed.length - 20] = changed[changed.length - 20]! ^ 1;
    m.chunk('mv4', 0, changed);
    await expect(m.land('mv4', 'h0', 1)).rejects.toMatchObject({ code: 'INVALID_ARGS' });
    expect(steps).toEqual([]);
    m.chunk('mv5', 0, sealed.subarray(0, 100));
    m.chunk('mv5', 1, sealed.subarray(100));
    await m.land('mv5', 'h0', 2);
    expect(steps).toEqual([{ op: 'moveLand', id: 'mv5', from: 'h0', bundle }]);
  });

  it('is refused when fewer parts came than were sent', async () => {
    const { m, steps } = mover();
    m.chunk('mv2', 0, new Uint8Array([1]));
    await expect(m.land('mv2', 'h0', 2)).rejects.toMatchObject({ code: 'INVALID_ARGS', message: 'move mv2: 1 of 2 parts arrived' });
    expect(steps).toEqual([]);
  });
});

/** A mover of host h1 whose kernel steps are recorded, with a placement of two hosts made of `placement` over the defaults. */
function moving(placement: Record<string, unknown>) {
  const steps: Array<{ op: string }> = [];
  const bundle = { root: 'C0', clouds: [], records: [], outbox: [] };
  const host = {
    eciInfo: () => Promise.resolve({}),
    handle: (req: { op: string }) => (steps.push(req), Promise.resolve(req.op === 'moveOut' ? bundle : undefined)),
  } as unknown as Host;
  const defaults = {
    onDecision: () => undefined,
    decision: () => undefined,
    knownHosts: () => [{ id: 'h1' }, { id: 'h2' }],
    sealKeyOf: () => new MoveSeal().publicKey,
    movePending: () => Promise.resolve(),
    decide: (_id: string, d: string) => Promise.resolve(d),
    forgetMove: () => Promise.resolve(),
  };
  const router = { ask: () => Promise.resolve(undefined) } as unknown as RealmRouter;
  return { m: new Mover('h1', { ...defaults, ...placement } as unknown as Placement, router, host, new MoveSeal()), steps };
}

describe('a move the realm fails', () => {
  it('is undone and answered REALM_UNAVAILABLE (worth another try), not as the caller’s mistake', async () => {
    const { m, steps } = moving({ movePending: () => Promise.reject(new Error('jetstream is not enabled')) });
    const err = (await m.move({ op: 'move', eci: 'E0', to: 'h2' }).then(
      () => ({ code: 'none', status: 0, message: 'moved' }),
      (e: unknown) => e,
    )) as { code: string; status: number; message: string };
    expect([err.code, err.status, err.message]).toEqual(['REALM_UNAVAILABLE', 503, expect.stringContaining('the move failed and was undone (jetstream is not enabled)')]);
    expect(steps.map((s) => s.op)).toEqual(['moveOut', 'moveStay']);
  });
});

describe('a move to a host that told the realm no key to seal clouds with (a kumo from before)', () => {
  it('is refused REALM_UNAVAILABLE before any part of the clouds is sent, and the cloud stays', async () => {
    const sent: unknown[] = [];
    const { m, steps } = moving({ sealKeyOf: () => undefined });
    (m as unknown as { router: { ask: (...a: unknown[]) => Promise<undefined> } }).router.ask = (...a) => (sent.push(a), Promise.resolve(undefined));
    await expect(m.move({ op: 'move', eci: 'E0', to: 'h2' })).rejects.toMatchObject({ code: 'REALM_UNAVAILABLE', status: 503, message: expect.stringContaining('it has told the realm no key to seal them for it') });
    // No part of the clouds went: the target is only told the move is over.
    expect(sent.map((a) => (a as [string, string, { op: string }])[2].op)).toEqual(['moveDecided']);
    expect(steps.map((s) => s.op)).toEqual(['moveOut', 'moveStay']);
  });
});

describe('a move whose decision the bucket did not answer', () => {
  /** A mover whose bucket answers `decide` with each of `answers` in turn (an Error: no answer). */
  function deciding(answers: Array<string | Error>) {
    const asked: string[] = [];
    const decide = (_id: string, d: string) => {
      asked.push(d);
      const a = answers.shift()!;
      return a instanceof Error ? Promise.reject(a) : Promise.resolve(a);
    };
    return { ...moving({ decide }), asked };
  }

  it('is committed when "committed" was written though its answer was lost: asked again, the bucket says so', async () => {
    const { m, steps, asked } = deciding([new Error('timeout'), new Error('timeout'), 'committed']);
    expect(await m.move({ op: 'move', eci: 'E0', to: 'h2' })).toMatchObject({ to: 'h2' });
    expect(asked).toEqual(['committed', 'aborted', 'aborted']);
    expect(steps.map((s) => s.op)).toEqual(['moveOut', 'moveLeave']);
  });

  it('is undone only once the bucket has answered "aborted"', async () => {
    const { m, steps, asked } = deciding([new Error('timeout'), new Error('timeout'), new Error('timeout'), 'aborted']);
    await expect(m.move({ op: 'move', eci: 'E0', to: 'h2' })).rejects.toMatchObject({ code: 'REALM_UNAVAILABLE' });
    expect(asked).toEqual(['committed', 'aborted', 'aborted', 'aborted']);
    expect(steps.map((s) => s.op)).toEqual(['moveOut', 'moveStay']);
  });
});
