import { describe, expect, it } from 'vitest';
import * as errors from '../kernel/errors.ts';
import { ERROR_CODES, KumoError, MailboxFullError, StoreFailedError, UnknownEciError, fromWire, inRule, messageOf, withoutPaths, type ErrorCode } from '../kernel/index.ts';

describe('the error catalog', () => {
  it('has a class per code, named after it, with the code and status, rebuilt from the wire', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const e = fromWire({ code, message: 'm', extra: 1 })!;
      expect(e).toBeInstanceOf(KumoError);
      expect(e.constructor).not.toBe(KumoError);
      expect(e.name).toBe(e.constructor.name);
      expect(
        e.name
          .replace(/Error$/, '')
          .replace(/[A-Z]/g, (c) => `_${c}`)
          .slice(1)
          .toUpperCase(),
      ).toBe(code);
      expect([e.code, e.status, e.message, e.details]).toEqual([code, ERROR_CODES[code], 'm', { extra: 1 }]);
      expect(e.toJSON()).toEqual({ code, message: 'm', extra: 1 });
    }
    expect(fromWire({ code: 'NO_SUCH_CODE', message: 'm' })).toBeUndefined();
    expect(fromWire('UNKNOWN_ECI')).toBeUndefined();
  });

  it('keeps the class of an error thrown in a rule and adds the rule to it', () => {
    const thrown = new MailboxFullError('C0000', 5);
    const named = inRule(thrown, 'test.rs', 'r1');
    expect(named).toBeInstanceOf(MailboxFullError);
    expect(named).toMatchObject({ code: 'MAILBOX_FULL', name: 'MailboxFullError', details: { limit: 5, rid: 'test.rs', rule: 'r1' }, cause: thrown });
    expect(named.message).toBe(`rule test.rs/r1: ${thrown.message}`);
    expect(inRule(named, 'other', 'x')).toBe(named); // named once, by the innermost rule
    expect(inRule(new TypeError('oops'), 'test.rs', 'r1')).toMatchObject({ code: 'RULE_FAILED', details: { rid: 'test.rs', rule: 'r1' } });
    expect(new UnknownEciError('E1')).toMatchObject({ name: 'UnknownEciError', status: 404, details: { eci: 'E1' } });
  });

  it('never shows a store path to a client', () => {
    const e = new StoreFailedError(new Error('IO error: /var/lib/kumo/000123.log: No space left on device'));
    expect(e.message).not.toContain('/');
    expect(JSON.stringify(e.toJSON())).not.toContain('/var/lib');
    expect((e.cause as Error).message).toContain('/var/lib'); // kept for the operator's log
    const cases: Array<[string, string]> = [
      ['open /var/lib/kumo/LOCK failed', 'open <path> failed'],
      ['at file:///home/op/rules/x.ts:3', 'at <path>:3'],
      ['cannot read C:\\kumo\\data\\LOG', 'cannot read <path>'],
      ['"/tmp/a/b" and (/etc/kumo/x)', '"<path>" and (<path>)'],
      // not paths: one segment, a fraction, words, a URL
      ['see /health, 1/2, and/or https://kumo.example/sky/event', 'see /health, 1/2, and/or https://kumo.example/sky/event'],
    ];
    for (const [text, shown] of cases) expect(withoutPaths(text)).toBe(shown);
    expect(messageOf('plain /var/x/y')).toBe('plain <path>');
  });

  it('says what each error is about, in its message and in the details a client reads', () => {
    const E = 'E0000AAAAAAAAAAAAAAAAAAAAAA';
    const cause = new Error('boom at /srv/kumo/x.ts');
    // [the error, words its message must contain, its details]
    const table: Array<[KumoError, string[], Record<string, unknown>]> = [
      [new errors.UnknownEciError(E), [JSON.stringify(E)], { eci: E }],
      [new errors.UnknownCloudError('kid'), ['no such cloud: kid'], {}],
      [new errors.UnknownRulesetError('a.b'), ['"a.b"', 'not registered or not installed'], { rid: 'a.b' }],
      [new errors.UnknownFunctionError('a.b', 'f'), ['a.b', '"f"'], { rid: 'a.b', name: 'f' }],
      [new errors.UnknownLinkError('Id x'), ['no link answers to Id x'], {}],
      [new errors.PolicyDeniedError('event a:b', E), [E, 'does not allow event a:b'], { eci: E }],
      [new errors.DestinationDeniedError('https://far'), ['https://far', '--allow-hosts'], { url: 'https://far' }],
      [new errors.NotSharedError('a.b', 'f'), ['a.b/f', 'not shared'], { rid: 'a.b', name: 'f' }],
      [new errors.InvalidAttrsError('a.b', 'r', 'n: expected number'), ['a.b/r', 'n: expected number'], { rid: 'a.b', rule: 'r' }],
      [new errors.LimitExceededError('raiseDepth', 16, 'too deep'), ['too deep'], { limit: 'raiseDepth', value: 16 }],
      [new errors.RuleFailedError('a.b', 'r', cause), ['rule a.b/r failed: boom at <path>'], { rid: 'a.b', rule: 'r' }],
      [new errors.UnstorableValueError('ent!a.b!x', cause), ['ent!a.b!x', 'cannot be stored: boom at <path>'], {}],
      [new errors.QueryFailedError('a.b', 'f', cause), ['function a.b/f failed: boom at <path>'], { rid: 'a.b', name: 'f' }],
      [new errors.MailboxFullError('C1', 7), ['C1', 'full (7 messages)'], { limit: 7 }],
      [new errors.OutboxFullError(9), ['holds 9 outgoing events'], { limit: 9 }],
      [new errors.ShuttingDownError(), ['shutting down'], {}],
      [new errors.QueryTimeoutError('a.b', 'f', 5000), ['a.b/f', 'longer than 5000 ms'], { rid: 'a.b', name: 'f' }],
      [new errors.UnknownClaimCodeError(), ['no device waits for this claim code'], {}],
      [new errors.ClaimCodeExpiredError(Date.UTC(2026, 0, 2)), ['expired at 2026-01-02T00:00:00.000Z'], { expired: Date.UTC(2026, 0, 2) }],
      [new errors.IdempotencyKeyReusedError('k1', 'e1'), ['"k1"', 'eid e1'], { key: 'k1', eid: 'e1' }],
      [new errors.RateLimitedError('claims', 20), ['too many failed claims', 'retry in 20 s'], { retryAfter: 20 }],
      [new errors.StoreFailedError(cause), ['nothing of it was kept'], {}],
      [new errors.NoRespondersError(E, 'hb'), [JSON.stringify(E), 'its host hb is not running'], { eci: E, host: 'hb' }],
      [new errors.RemoteTimeoutError(E, 'hb', 200), ['host hb', JSON.stringify(E), 'within 200 ms'], { eci: E, host: 'hb' }],
      [new errors.RealmUnavailableError('query E1'), ['cannot query E1: this host is not connected to its realm'], {}],
      [new errors.TooManyConnectionsError(50), ['serves 50 connections'], { limit: 50 }],
    ];
    for (const [err, words, details] of table) {
      for (const w of words) expect(err.message).toContain(w);
      expect(err.details).toEqual(details);
      expect(err.toJSON()).toEqual({ code: err.code, message: err.message, ...details });
    }
    expect(new errors.StoreLockedError()).toMatchObject({ code: 'STORE_LOCKED', name: 'StoreLockedError', message: 'the store is in use by another process' });
  });
});

describe('what is worth trying again', () => {
  it('a full mailbox, a host stopping, a store failure or anything unexpected; never a refusal for good', () => {
    const { isTransient, ShuttingDownError, PolicyDeniedError } = errors;
    expect(isTransient(new MailboxFullError('C1', 10))).toBe(true);
    expect(isTransient(new ShuttingDownError())).toBe(true);
    expect(isTransient(new StoreFailedError(new Error('disk')))).toBe(true);
    expect(isTransient(new Error('unexpected'))).toBe(true);
    expect(isTransient('a string thrown')).toBe(true);
    expect(isTransient(new UnknownEciError('E1'))).toBe(false);
    expect(isTransient(new PolicyDeniedError('event a:b', 'E1'))).toBe(false);
  });
});
