import { expect } from 'vitest';
import type { KumoEvent, Selector } from '../kernel/index.ts';
import { decode, encode } from '../kernel/store/codec.ts';
import { deepFreeze } from '../kernel/clouds/freeze.ts';
import { compile, type Captures, type ExprLike } from '../rulesets/index.ts';

/** One row of an operator table: an event and what the rule must do on it. */
export interface Row {
  /** `domain:type` */
  ev: string;
  attrs?: Record<string, unknown>;
  /** Event time in seconds from the start of the table (default: the row's index). */
  t?: number;
  /** `false`: must not fire; captures: must fire with exactly these captures. */
  fires: false | Captures;
}

export const T0 = Date.UTC(2026, 0, 1);

/** An event from a row. */
export function eventOf(row: Pick<Row, 'ev' | 'attrs' | 't'>, i: number): KumoEvent {
  const [domain, type] = row.ev.split(':') as [string, string];
  return { eid: `e${i}`, domain, type, attrs: row.attrs ?? {}, time: T0 + (row.t ?? i) * 1000 };
}

/**
 * Run a table through a compiled expression the way the kernel does, except harder: between
 * events the state goes through the store's codec and is deep-frozen, so state that is not plain
 * data, or a `match` that mutates its input, fails the table.
 */
export function runTable(e: ExprLike, rows: Row[]): { states: unknown[] } {
  const sel: Selector = compile(e);
  let state: unknown;
  const states: unknown[] = [];
  rows.forEach((row, i) => {
    const event = eventOf(row, i);
    const r = sel.match(state, event);
    const got = r.fired ? r.captures : false;
    expect({ row: i, ev: row.ev, fires: got }).toEqual({ row: i, ev: row.ev, fires: row.fires });
    state = r.state === undefined ? undefined : deepFreeze(decode(encode(r.state)));
    expect(state).toEqual(r.state);
    states.push(state);
  });
  return { states };
}

/** Whether `e` fires on each event of `events`, with captures, evaluated straight through. */
export function firings(sel: Selector, events: KumoEvent[], state?: unknown): { out: Array<false | Captures>; state: unknown } {
  const out: Array<false | Captures> = [];
  for (const ev of events) {
    const r = sel.match(state, ev);
    out.push(r.fired ? r.captures : false);
    state = r.state;
  }
  return { out, state };
}
