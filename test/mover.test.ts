import { describe, expect, it } from 'vitest';
import { Mover } from '../channels/realm/mover.ts';
import type { Placement } from '../channels/realm/placement.ts';
import type { RealmRouter } from '../channels/realm/realm-router.ts';
import type { Host } from '../kernel/index.ts';

/** A mover whose host records the steps asked of it; placement and router are never reached here. */
function mover() {
  const steps: unknown[] = [];
  const host = { handle: (req: unknown) => (steps.push(req), Promise.resolve([])) } as unknown as Host;
  const placement = { onDecision: () => undefined, decision: () => undefined } as unknown as Placement;
  return { m: new Mover('h1', placement, {} as RealmRouter, host), steps };
}

describe('a subtree arriving in parts', () => {
  it('is refused, landing nothing, when a part in the middle never came', async () => {
    const { m, steps } = mover();
    m.chunk('mv1', 0, new Uint8Array([1]));
    m.chunk('mv1', 2, new Uint8Array([3]));
    await expect(m.land('mv1', 'h0', 3)).rejects.toMatchObject({ code: 'INVALID_ARGS', message: 'move mv1: 2 of 3 parts arrived' });
    expect(steps).toEqual([]);
  });

  it('is refused when fewer parts came than were sent', async () => {
    const { m, steps } = mover();
    m.chunk('mv2', 0, new Uint8Array([1]));
    await expect(m.land('mv2', 'h0', 2)).rejects.toMatchObject({ code: 'INVALID_ARGS', message: 'move mv2: 1 of 2 parts arrived' });
    expect(steps).toEqual([]);
  });
});
