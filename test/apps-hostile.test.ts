import { describe, expect, it } from 'vitest';
import { appHost, appSource, COUNTER, COUNTER_RID, installApp } from './apps-harness.ts';
import { newChild, rejection } from './fixtures.ts';
import { testHost } from './helpers.ts';

/** An app whose rule on `evil:<name>` sets `before`, then does `body`; `before()` tells whether anything was written. */
const hostile = (rules: Record<string, string>): string =>
  appSource(
    'app.hostile',
    { version: '1.0.0' },
    Object.entries(rules)
      .map(([name, body]) => `.rule(${JSON.stringify(name)}, { select: 'evil:${name}', async action(ctx) { ctx.ent.set('before', true); ${body} } })`)
      .join('') + `.share('before', (ctx) => ctx.ent.get('before') ?? false).share('spin', () => { for (;;) {} })`,
  );

const RULES = {
  loop: 'for (;;) {}',
  recursion: 'const f = (n) => f(n + 1) + 1; f(0);',
  allocation: "const a = []; for (;;) a.push('x'.repeat(1 << 20) + a.length);",
  gigabyte: "ctx.ent.set('size', new ArrayBuffer(1 << 30).byteLength);",
  bigString: "ctx.ent.set('size', 'y'.repeat(1 << 28).length);",
  process: 'process.exit(1);',
  require: "const load = require; load('fs').readFileSync('/etc/passwd');",
  globalThis: "ctx.directive('seen', { names: Object.getOwnPropertyNames(globalThis).filter((n) => /^(process|require|module|Buffer|fetch|setTimeout|setInterval|XMLHttpRequest)$/.test(n)) });",
  functionTrick: "const g = Function('return this')(); ctx.directive('host', { value: g.__host('ent.get', JSON.stringify(['count'])) });",
  evalTrick: "ctx.directive('eval', { value: eval('typeof process + typeof require + typeof fetch') });",
  pollute: "Object.prototype.polluted = 'yes';",
  addGlobal: 'globalThis.stash = ctx.attrs;',
  hugeDirective: "ctx.directive('huge', { data: 'z'.repeat(300 * 1024) });",
  forever: 'await new Promise(() => {});',
  otherEntity: "ctx.directive('other', { value: ctx.ent.get('count') ?? null });",
};

describe('apps: a hostile app fails alone, with its own error, and writes nothing', () => {
  it('ends each attack with a clear error naming the app (and the limit), nothing of the episode written', async () => {
    const { host, root } = await appHost();
    await installApp(host, root.eci, { source: hostile(RULES) });
    const attack = async (name: string) => rejection(host.event({ eci: root.eci, domain: 'evil', type: name, attrs: {} }));
    const expected: Record<string, [string, Record<string, unknown>] | [string, Record<string, unknown>, RegExp]> = {
      loop: ['APP_LIMIT_EXCEEDED', { rid: 'app.hostile', limit: 'time', max: 100 }],
      recursion: ['APP_LIMIT_EXCEEDED', { rid: 'app.hostile', limit: 'stack' }],
      allocation: ['APP_LIMIT_EXCEEDED', { rid: 'app.hostile', limit: 'memory' }],
      gigabyte: ['APP_LIMIT_EXCEEDED', { rid: 'app.hostile', limit: 'memory' }],
      bigString: ['APP_LIMIT_EXCEEDED', { rid: 'app.hostile', limit: 'memory' }],
      process: ['RULE_FAILED', { rid: 'app.hostile', rule: 'process' }, /'process' is not defined/],
      require: ['RULE_FAILED', { rid: 'app.hostile', rule: 'require' }, /may import only kumo, not fs/],
      pollute: ['RULE_FAILED', { rid: 'app.hostile' }, /read-only|not extensible|frozen/],
      addGlobal: ['RULE_FAILED', { rid: 'app.hostile' }, /not extensible|read-only/],
      hugeDirective: ['PAYLOAD_TOO_LARGE', {}],
      forever: ['RULE_FAILED', { rid: 'app.hostile' }, /awaits something that never comes/],
    };
    for (const [name, [code, details, message]] of Object.entries(expected)) {
      const err = await attack(name);
      expect([name, err.code, err.details, err.message]).toEqual([name, code, expect.objectContaining(details), expect.any(String)]);
      if (message) expect(err.message).toMatch(message);
    }
    expect(await host.query({ eci: root.eci, rid: 'app.hostile', name: 'before', args: {} })).toBe(false);
    const q = await rejection(host.query({ eci: root.eci, rid: 'app.hostile', name: 'spin', args: {} }));
    expect([q.code, q.details['limit']]).toEqual(['APP_LIMIT_EXCEEDED', 'time']);
    // The host's own realm is untouched by what the app tried.
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
    // After all that, the app and the host still work.
    await host.event({ eci: root.eci, domain: 'evil', type: 'otherEntity', attrs: {} });
    expect(await host.query({ eci: root.eci, rid: 'app.hostile', name: 'before', args: {} })).toBe(true);
  });

  it('refuses at install an app whose top level loops or allocates without end, and more app engines than the host runs', async () => {
    const { host, root } = await testHost({ limits: { appEngines: 2 }, apps: { sources: {}, limits: { callMs: 50, memoryBytes: 16 * 1024 * 1024 } } });
    const loops = await rejection(installApp(host, root.eci, { source: appSource('app.loops', {}, '', 'for (;;) {}') }));
    expect([loops.code, loops.details['limit']]).toEqual(['APP_LIMIT_EXCEEDED', 'time']);
    const hoards = await rejection(installApp(host, root.eci, { source: appSource('app.hoards', {}, '', 'const all = []; for (;;) all.push(new Array(100000).fill(1));') }));
    expect([hoards.code, hoards.details['limit']]).toEqual(['APP_LIMIT_EXCEEDED', 'memory']);
    await installApp(host, root.eci, { source: COUNTER });
    await installApp(host, root.eci, { source: appSource('app.second', {}, '') });
    const third = await rejection(installApp(host, root.eci, { source: appSource('app.third', {}, '') }));
    expect([third.code, third.details['limit']]).toEqual(['LIMIT_EXCEEDED', 'appEngines']);
    // An app the host runs already installs still.
    const other = await newChild(host, root.eci, 'other');
    expect((await installApp(host, other.eci, { source: COUNTER })).rid).toBe(COUNTER_RID);
  });

  it("refuses an HTTP call to a host the operator denies or to this machine's networks, even when its owner granted it", async () => {
    const caller = appSource(
      'app.caller',
      { permissions: { http: ['example.com', '127.0.0.1', '169.254.169.254'] } },
      `.rule('get', { select: 'h:get', async action(ctx) { ctx.ent.set('before', true); await ctx.http({ url: ctx.attrs.url }); } }).share('before', (ctx) => ctx.ent.get('before') ?? false)`,
    );
    const strict = await testHost({ apps: { sources: { allow: ['*.example.org'] } } });
    const open = await testHost({ seed: 7, apps: { sources: {} } });
    for (const { host, root } of [strict, open]) await installApp(host, root.eci, { source: caller, consent: true });
    const get = async (t: { host: typeof strict.host; root: { eci: string } }, url: string) => rejection(t.host.event({ eci: t.root.eci, domain: 'h', type: 'get', attrs: { url } }));
    const denied = await get(strict, 'http://example.com/');
    expect([denied.code, denied.status, denied.message]).toEqual(['APP_SOURCE_DENIED', 403, expect.stringContaining('the operator does not allow that host')]);
    for (const url of ['http://127.0.0.1:9/', 'http://169.254.169.254/latest/meta-data/']) {
      const err = await get(open, url);
      expect([err.code, err.message]).toEqual(['APP_SOURCE_DENIED', expect.stringContaining("an address of this host's own networks")]);
    }
    expect(await open.host.query({ eci: open.root.eci, rid: 'app.caller', name: 'before', args: {} })).toBe(false);
  });

  it('sees nothing of Node.js, the host or another app through globals, eval or Function', async () => {
    const { host, root } = await appHost();
    await installApp(host, root.eci, { source: COUNTER });
    await host.event({ eci: root.eci, domain: 'counter', type: 'inc', attrs: { by: 41 } });
    await installApp(host, root.eci, { source: hostile(RULES) });
    const run = async (name: string) => (await host.event({ eci: root.eci, domain: 'evil', type: name, attrs: {} })).directives[0]!.options;
    expect(await run('globalThis')).toEqual({ names: [] });
    // `require` is the module's own: it hands out `kumo` and refuses the rest.
    expect(await run('evalTrick')).toEqual({ value: 'undefinedfunctionundefined' });
    // The host's one function acts on the calling app's own context: the counter's count is not its.
    expect(await run('functionTrick')).toEqual({ value: '' });
    expect(await run('otherEntity')).toEqual({ value: null });
    expect(await host.query({ eci: root.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(41);
  });

  it("reads only its own cloud's state: the same app in another cloud sees that cloud's", async () => {
    const { host, root } = await appHost();
    const a = await newChild(host, root.eci, 'a');
    const b = await newChild(host, root.eci, 'b');
    const reader = appSource(
      'app.reader',
      {},
      `.rule('set', { select: 'r:set', action(ctx) { ctx.ent.set('secret', ctx.attrs.v); } }).rule('get', { select: 'r:get', action(ctx) { ctx.directive('got', { v: ctx.ent.get('secret') ?? null, cloud: ctx.cloud.name }); } })`,
    );
    for (const c of [a, b]) await installApp(host, c.eci, { source: reader });
    await host.event({ eci: a.eci, domain: 'r', type: 'set', attrs: { v: 'only-a' } });
    const got = await host.event({ eci: b.eci, domain: 'r', type: 'get', attrs: {} });
    expect(got.directives[0]!.options).toEqual({ v: null, cloud: 'b' });
  });

  it('suspends an app in a cloud where it ran out of time three times in a minute: its events there fail at once, for a minute', async () => {
    const { host, root, clock } = await appHost();
    const bad = await newChild(host, root.eci, 'bad');
    const other = await newChild(host, root.eci, 'other');
    for (const c of [bad, other]) await installApp(host, c.eci, { source: hostile(RULES) });
    const attack = async (eci: string, type = 'loop') => rejection(host.event({ eci, domain: 'evil', type, attrs: {} }));
    for (let i = 0; i < 3; i++) expect((await attack(bad.eci)).message).toMatch(/ran longer than its 100 ms/);
    const suspended = await attack(bad.eci, 'otherEntity');
    expect([suspended.code, suspended.details['limit'], suspended.message]).toEqual(['APP_LIMIT_EXCEEDED', 'time', expect.stringMatching(/suspended in this cloud for 60 s more/)]);
    // The same app in another cloud, and the cloud's other rulesets, are not suspended.
    expect((await host.event({ eci: other.eci, domain: 'evil', type: 'otherEntity', attrs: {} })).directives[0]!.name).toBe('other');
    expect((await host.event({ eci: bad.eci, domain: 'wrangler', type: 'new_channel_request', attrs: {} })).directives[0]!.name).toBe('wrangler:channel_created');
    clock.advance(59_999);
    expect((await attack(bad.eci, 'otherEntity')).message).toMatch(/suspended in this cloud for 1 s more/);
    clock.advance(1); // a minute to the millisecond: over
    expect((await host.event({ eci: bad.eci, domain: 'evil', type: 'otherEntity', attrs: {} })).directives[0]!.name).toBe('other');
    // Strikes a minute or more apart do not add up.
    for (let i = 0; i < 2; i++) await attack(bad.eci);
    clock.advance(60_000);
    expect((await attack(bad.eci)).message).toMatch(/ran longer/);
    expect((await host.event({ eci: bad.eci, domain: 'evil', type: 'otherEntity', attrs: {} })).directives[0]!.name).toBe('other');
    // What counts for nothing any more is forgotten.
    const apps = (host as unknown as { parts: { apps: { struck: number } } }).parts.apps;
    expect(apps.struck).toBe(1);
    clock.advance(60_000);
    await host.event({ eci: bad.eci, domain: 'evil', type: 'otherEntity', attrs: {} });
    expect(apps.struck).toBe(0);
  });

  it('keeps serving other clouds while an app spends its time limit on every event of its own cloud', async () => {
    const { host, root } = await appHost();
    const bad = await newChild(host, root.eci, 'bad');
    const good = await newChild(host, root.eci, 'good');
    await installApp(host, bad.eci, { source: hostile(RULES) });
    await installApp(host, good.eci, { source: COUNTER });
    let badDone = 0;
    const attacks = Array.from({ length: 6 }, () =>
      rejection(host.event({ eci: bad.eci, domain: 'evil', type: 'loop', attrs: {} })).then((e) => {
        badDone++;
        return e.code;
      }),
    );
    // The good cloud's events are answered between the bad app's turns, not after all of them.
    const goodBeforeBadFinished: number[] = [];
    for (let i = 0; i < 20; i++) {
      await host.event({ eci: good.eci, domain: 'counter', type: 'inc', attrs: {} });
      goodBeforeBadFinished.push(badDone);
    }
    expect(await Promise.all(attacks)).toEqual(Array(6).fill('APP_LIMIT_EXCEEDED'));
    expect(goodBeforeBadFinished.filter((n) => n < 6).length).toBeGreaterThan(0);
    expect(await host.query({ eci: good.eci, rid: COUNTER_RID, name: 'count', args: {} })).toBe(20);
  });

  it("cannot replace zod's functions for the clouds that follow, whether its engine loaded zod with the app or later", async () => {
    const { host, root } = await appHost();
    const pollute = `.rule('pollute', { select: 'z:pollute', action(ctx) {
        let changed = 0;
        for (const change of [() => { z.object = () => ({ safeParse: () => ({ success: true }) }); }, () => { z.number = () => z.unknown(); }, () => { delete z.object; }]) {
          try { change(); changed++; } catch {}
        }
        ctx.directive('changed', { changed });
      } })
      .rule('check', { select: 'z:check', action(ctx) { ctx.directive('ok', { ok: z.object({ n: z.number() }).safeParse({ n: 'x' }).success }); } })`;
    // "early" reads z as it loads (a schema), "late" first in a rule.
    const early = appSource('app.early', {}, `.rule('typed', { select: 'z:typed', attrs: z.object({ n: z.number() }), action() {} })${pollute}`);
    const late = appSource('app.late', {}, pollute);
    const [a, b] = [await newChild(host, root.eci, 'a'), await newChild(host, root.eci, 'b')];
    for (const source of [early, late]) for (const c of [a, b]) await installApp(host, c.eci, { source });
    for (const rid of ['early', 'late']) {
      const run = async (eci: string, type: string) => (await host.event({ eci, domain: 'z', type, attrs: {} })).directives.find((d) => d.meta.rid === `app.${rid}`)!.options;
      expect(await run(a.eci, 'pollute')).toEqual({ changed: 0 });
      expect(await run(b.eci, 'check')).toEqual({ ok: false });
    }
    expect((await rejection(host.event({ eci: b.eci, domain: 'z', type: 'typed', attrs: { n: 'x' } }))).code).toBe('INVALID_ATTRS');
  });

  it('starts an engine without zod for an app that never reads z (zod is most of what an engine holds)', async () => {
    const { Sandbox } = await import('../rulesets/apps/sandbox.ts');
    const { compileApp, preludeCode } = await import('../rulesets/apps/compile.ts');
    const { DEFAULT_APP_LIMITS } = await import('../rulesets/apps/index.ts');
    const engine = async (source: string) => (await Sandbox.create({ ...(await preludeCode()), app: await compileApp(source) }, DEFAULT_APP_LIMITS, 5000)).sandbox;
    const plain = await engine(appSource('app.plain', {}, ''));
    const typed = await engine(appSource('app.typed', {}, `.rule('t', { select: 'a:b', attrs: z.object({ n: z.number() }) })`));
    expect([plain.memoryUsed() < 1024 * 1024, typed.memoryUsed() > 1024 * 1024]).toEqual([true, true]);
    plain.dispose();
    typed.dispose();
  });
});
