/**
 * The ruleset of realm tests and the chaos run (a rulesets file's source), that tallies what it hears:
 * `tally:mark {n}` counts n; `tally:send {to, n}` sends `tally:mark {n}` to the ECI `to` (through the
 * outbox, so across hosts through the realm's durable inbox); `tally:shout {n}` pushes to the ECI the
 * event came through; `tally:seq {n}` appends n to a list (`seq()`), to check order; `tally:later {ms}`
 * schedules a `tally:mark {n: 'rang'}`; `tally:slow {ms, n}` marks n after ms. `counts()` returns {n: times marked};
 * `where()` the URL of the host that answered.
 */
export const TALLY = `
import { ruleset } from RULESETS;
export default ruleset('test.tally')
  .rule('mark', { select: 'tally:mark', action: (ctx) => ctx.ent.set('n' + String(ctx.attrs['n']), ((ctx.ent.get('n' + String(ctx.attrs['n'])) as number | undefined) ?? 0) + 1) })
  .rule('send', { select: 'tally:send', action: (ctx) => ctx.send(String(ctx.attrs['to']), 'tally', 'mark', { n: ctx.attrs['n'] }) })
  .rule('shout', { select: 'tally:shout', action: (ctx) => ctx.push(ctx.eci!, 'shout', { n: ctx.attrs['n'] }) })
  .rule('seq', { select: 'tally:seq', action: (ctx) => ctx.ent.set('~seq', [...((ctx.ent.get('~seq') as number[] | undefined) ?? []), Number(ctx.attrs['n'])]) })
  .rule('later', { select: 'tally:later', action: (ctx) => void ctx.scheduleAt(ctx.now() + Number(ctx.attrs['ms']), 'tally', 'mark', { n: 'rang' }) })
  .rule('slow', { select: 'tally:slow', action: async (ctx) => { await new Promise((r) => setTimeout(r, Number(ctx.attrs['ms']))); ctx.ent.set('n' + String(ctx.attrs['n']), ((ctx.ent.get('n' + String(ctx.attrs['n'])) as number | undefined) ?? 0) + 1); } })
  .share('counts', (ctx) => Object.fromEntries(ctx.ent.names().filter((k) => k.startsWith('n')).map((k) => [k.slice(1), ctx.ent.get(k)])))
  .share('seq', (ctx) => ctx.ent.get('~seq') ?? [])
  .share('where', (ctx) => ctx.hostUrl ?? null)
  .build();
`;
