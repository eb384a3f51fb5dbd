import { describe, expect, it } from 'vitest';
import { ERROR_CODES, KumoError, MailboxFullError, StoreFailedError, UnknownEciError, fromWire, inRule, type ErrorCode } from '../kernel/index.ts';

describe('the error catalog', () => {
  it('has a class per code, named after it, with the code and status, rebuilt from the wire', () => {
    for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
      const e = fromWire({ code, message: 'm', extra: 1 })!;
      expect(e).toBeInstanceOf(KumoError);
      expect(e.constructor).not.toBe(KumoError);
      expect(e.name).toBe(e.constructor.name);
      expect(e.name.replace(/Error$/, '').replace(/[A-Z]/g, (c) => `_${c}`).slice(1).toUpperCase()).toBe(code);
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
  });
});
