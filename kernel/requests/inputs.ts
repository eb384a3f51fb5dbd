import { InvalidArgsError, InvalidEventError, UnknownEciError } from '../errors.ts';
import { newEid, type IdGenerator } from '../ids.ts';
import type { RoutedEvent, RoutedQuery } from './request.ts';
import type { KumoEvent } from '../ruleset.ts';
import { checkArgs, checkAttrs, checkEid, checkEventName, checkIdempotencyKey, checkSentEventName, describe, isPlainObject } from '../validate.ts';

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
 * input is refused here, before it reaches any cloud: nothing about it is trusted, whatever its type says.
 */
export function eventRequest(input: EventInput, ids: IdGenerator, now: number, attrsBytes: number): RoutedEvent {
  const raw: unknown = input;
  if (!isPlainObject(raw)) throw new InvalidArgsError('an event must be an object');
  const { eci, idempotencyKey: key } = raw;
  const eid = raw.eid ?? newEid(ids);
  const attrs = raw.attrs ?? {};
  const name = { domain: raw.domain, type: raw.type };
  checkSentEventName(name);
  checkEid(eid);
  checkAttrs(attrs, attrsBytes);
  if (key !== undefined) checkIdempotencyKey(key);
  if (typeof eci !== 'string') throw new UnknownEciError(describe(eci));
  return { eci, event: { eid, ...name, attrs, time: now }, ...(key !== undefined ? { idempotencyKey: key } : {}) };
}

/** Check an event delivered from elsewhere, which keeps its eid and event time. */
export function receivedEvent(routed: RoutedEvent, attrsBytes: number): KumoEvent {
  const raw: unknown = routed;
  const e = isPlainObject(raw) ? raw.event : undefined;
  if (!isPlainObject(raw) || !isPlainObject(e) || typeof raw.eci !== 'string') throw new InvalidEventError('a received event needs an eci and an event');
  if (raw.idempotencyKey !== undefined) checkIdempotencyKey(raw.idempotencyKey);
  const { eid, attrs, time } = e;
  const name = { domain: e.domain, type: e.type };
  checkEventName(name);
  checkEid(eid);
  checkAttrs(attrs, attrsBytes);
  if (typeof time !== 'number' || !Number.isFinite(time)) throw new InvalidEventError('a received event needs its event time');
  return { eid, ...name, attrs, time };
}

/** Check a query from a channel: a rid, a function name, and args like attrs. */
export function queryRequest(input: QueryInput, argsBytes: number): RoutedQuery {
  const raw: unknown = input;
  if (!isPlainObject(raw)) throw new InvalidArgsError('a query must be an object');
  const { eci, rid, name } = raw;
  const args = raw.args ?? {};
  if (typeof rid !== 'string' || typeof name !== 'string' || rid === '' || name === '') throw new InvalidArgsError('a query needs a rid and a function name');
  checkArgs(args, argsBytes);
  if (typeof eci !== 'string') throw new UnknownEciError(describe(eci));
  return { eci, rid, name, args };
}
