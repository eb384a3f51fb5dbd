import { InvalidArgsError, InvalidEventError, UnknownEciError } from '../errors.ts';
import { newEid, type IdGenerator } from '../ids.ts';
import type { RoutedEvent, RoutedQuery } from './request.ts';
import type { KumoEvent } from '../ruleset.ts';
import { checkArgs, checkAttrs, checkEid, checkEventName, checkIdempotencyKey, checkSentEventName, describe } from '../validate.ts';

/** An event as a channel hands it to the host. */
export interface EventInput {
  eci: string;
  eid?: string;
  domain: string;
  type: string;
  attrs?: unknown;
  /** Apply the event at most once per key; a retry with the key gets the first answer back (marked `replay`). */
  idempotencyKey?: string;
}

/** A query as a channel hands it to the host. */
export interface QueryInput {
  eci: string;
  rid: string;
  name: string;
  args?: unknown;
}

/**
 * Check an event from a channel and fix its eid (given, or new) and its event time (now). Bad
 * input is refused here, before it reaches any cloud.
 */
export function eventRequest(input: EventInput, ids: IdGenerator, now: number, attrsBytes: number): RoutedEvent {
  if (typeof input !== 'object' || input === null) throw new InvalidArgsError('an event must be an object');
  checkSentEventName(input.domain, input.type);
  const eid = input.eid ?? newEid(ids);
  checkEid(eid);
  const attrs = input.attrs ?? {};
  checkAttrs(attrs, attrsBytes);
  const key = input.idempotencyKey;
  if (key !== undefined) checkIdempotencyKey(key);
  if (typeof input.eci !== 'string') throw new UnknownEciError(describe(input.eci));
  return { eci: input.eci, event: { eid, domain: input.domain, type: input.type, attrs, time: now }, ...(key !== undefined ? { idempotencyKey: key } : {}) };
}

/** Check an event delivered from elsewhere, which keeps its eid and event time. */
export function receivedEvent(routed: RoutedEvent, attrsBytes: number): KumoEvent {
  const e = routed?.event;
  if (typeof e !== 'object' || e === null || typeof routed.eci !== 'string') throw new InvalidEventError('a received event needs an eci and an event');
  if (routed.idempotencyKey !== undefined) checkIdempotencyKey(routed.idempotencyKey);
  checkEventName(e.domain, e.type);
  checkEid(e.eid);
  checkAttrs(e.attrs, attrsBytes);
  if (typeof e.time !== 'number' || !Number.isFinite(e.time)) throw new InvalidEventError('a received event needs its event time');
  return { eid: e.eid, domain: e.domain, type: e.type, attrs: e.attrs, time: e.time };
}

/** Check a query from a channel: a rid, a function name, and args like attrs. */
export function queryRequest(input: QueryInput, argsBytes: number): RoutedQuery {
  if (typeof input !== 'object' || input === null) throw new InvalidArgsError('a query must be an object');
  const { eci, rid, name } = input;
  if (typeof rid !== 'string' || typeof name !== 'string' || rid === '' || name === '') throw new InvalidArgsError('a query needs a rid and a function name');
  const args = input.args ?? {};
  checkArgs(args, argsBytes);
  if (typeof eci !== 'string') throw new UnknownEciError(describe(eci));
  return { eci, rid, name, args };
}
