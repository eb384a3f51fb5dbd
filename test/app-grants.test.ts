import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AppPermissionDeniedError, type AppPermissions } from '../kernel/index.ts';
import { beyond, checkCall, checkGrant, checkHttp, DEFAULT_STORAGE, MAX_STORAGE, NEEDS, parsePermissions, PERMISSIONS } from '../kernel/apps/grants.ts';
import type { InstallRecord } from '../kernel/store/keys.ts';

const app = (grant: AppPermissions): InstallRecord => ({ rid: 'app.x', config: {}, seq: 1, app: { hash: 'h', version: '1', grant } });
const native: InstallRecord = { rid: 'native.x', config: {}, seq: 1 };

describe("an app's permissions", () => {
  it('are read from what it declares, and anything else is refused with what is wrong', () => {
    expect(parsePermissions(undefined, false)).toEqual({});
    expect(parsePermissions({ send: true, channels: false, storage: 0, calls: ['b.rid', 'a.rid', 'a.rid'], http: ['*.example.com'] }, false)).toEqual({ send: true, storage: 0, calls: ['a.rid', 'b.rid'], http: ['*.example.com'] });
    expect(parsePermissions({ calls: [], http: [] }, false)).toEqual({});
    expect(parsePermissions({}, true)).toEqual({ channels: true });
    const bad: Array<[unknown, RegExp]> = [
      [[], /must be an object/],
      [null, /must be an object/],
      [{ send: 'yes' }, /send is true or false/],
      [{ storage: -1 }, /storage is a whole number/],
      [{ storage: 1.5 }, /storage is a whole number/],
      [{ storage: MAX_STORAGE + 1 }, /storage is a whole number/],
      [{ storage: '10' }, /storage is a whole number/],
      [{ calls: 'a.rid' }, /calls is a list of at most 20 rids/],
      [{ calls: ['1bad'] }, /calls is a list/],
      [{ calls: Array.from({ length: 21 }, (_, i) => `r${i}`) }, /at most 20/],
      [{ http: ['http://example.com'] }, /http is a list of at most 20 host names/],
      [{ http: ['exa mple.com'] }, /http is a list/],
      [{ http: ['-a.com'] }, /http is a list/],
      [{ http: [7] }, /http is a list/],
      [{ everything: true }, /"everything" is not a permission \(send, channels, children, manage, storage, calls, http\)/],
    ];
    for (const [value, message] of bad) expect(() => parsePermissions(value, false)).toThrow(message);
    expect(PERMISSIONS).toEqual(['send', 'channels', 'children', 'manage', 'storage', 'calls', 'http']);
  });

  it('ask for more than a grant exactly where they name what it lacks', () => {
    expect(beyond({}, {})).toEqual({});
    expect(beyond({ send: true, children: true }, { send: true })).toEqual({ children: true });
    expect(beyond({ storage: DEFAULT_STORAGE }, {})).toEqual({});
    expect(beyond({ storage: DEFAULT_STORAGE + 1 }, {})).toEqual({ storage: DEFAULT_STORAGE + 1 });
    expect(beyond({ storage: 10 }, { storage: 100 })).toEqual({});
    expect(beyond({ calls: ['a', 'b'], http: ['x.com'] }, { calls: ['a'], http: ['x.com'] })).toEqual({ calls: ['b'] });
    // Property: what a grant gives is never asked again, and asking for a grant itself asks nothing more.
    const perms = fc.record(
      { send: fc.constant(true), manage: fc.constant(true), storage: fc.nat(MAX_STORAGE), calls: fc.uniqueArray(fc.constantFrom('a', 'b', 'c')), http: fc.uniqueArray(fc.constantFrom('x.com', '*.y.com')) },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(perms, perms, (asks, granted) => {
        expect(beyond(asks, asks)).toEqual({});
        const more = beyond(asks, granted);
        for (const list of ['calls', 'http'] as const) for (const x of more[list] ?? []) expect(granted[list] ?? []).not.toContain(x);
        if (more.send) expect(granted.send).toBeUndefined();
      }),
    );
  });

  it('are checked only for apps, and each operation that needs one is refused without it', () => {
    for (const [op, permission] of Object.entries(NEEDS)) {
      expect(() => checkGrant(native, op)).not.toThrow();
      expect(() => checkGrant(app({ [permission]: true }), op)).not.toThrow();
      const err = (() => {
        try {
          checkGrant(app({}), op);
        } catch (e) {
          return e as AppPermissionDeniedError;
        }
        throw new Error(`${op} was allowed`);
      })();
      expect([err.code, err.details]).toEqual(['APP_PERMISSION_DENIED', { rid: 'app.x', permission }]);
    }
    expect(() => checkGrant(app({}), 'directive')).not.toThrow();
    expect(() => checkCall(native, 'any.rid')).not.toThrow();
    expect(() => checkCall(app({ calls: ['a.rid'] }), 'a.rid')).not.toThrow();
    expect(() => checkCall(app({ calls: ['a.rid'] }), 'b.rid')).toThrow(AppPermissionDeniedError);
    const url = (u: string) => new URL(u);
    expect(() => checkHttp(native, url('http://anything.example'))).not.toThrow();
    expect(() => checkHttp(app({ http: ['example.com'] }), url('https://EXAMPLE.com:8443/x'))).not.toThrow();
    expect(() => checkHttp(app({ http: ['*.example.com'] }), url('https://api.example.com/'))).not.toThrow();
    for (const u of ['https://example.com.evil.net/', 'https://notexample.com/', 'https://example.org/']) expect(() => checkHttp(app({ http: ['example.com', '*.example.com'] }), url(u))).toThrow(AppPermissionDeniedError);
    expect(() => checkHttp(app({}), url('https://example.com/'))).toThrow(/has not granted it "http"/);
  });
});
