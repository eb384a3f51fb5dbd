import { table } from '../format.ts';
import type { Command } from '../command.ts';

/** The owner's console (docs/console.md): a one-time code to sign in, and the sessions and passkeys of a cloud. */
export const consoleCommands: Command[] = [
  {
    name: 'login',
    summary: 'a one-time code to sign in to the console',
    args: 0,
    help: `Print a one-time code to sign in to the console (the host's page, /) as the --eci ECI: the
root owner's by default. The session it opens can do what that ECI can, nothing more. The code
works once, for 10 minutes; a new one replaces it. Add a passkey in the console to sign in again
without a code.`,
    async run(ctx) {
      const eci = await ctx.eci();
      const made = await ctx.client.signinCode(eci);
      const url = new URL('/', ctx.client.baseUrl).href;
      ctx.print({ ...made, url }, `Open ${url} and type this code (it works once, until ${new Date(made.expires).toISOString()}):\n\n  ${made.code}\n`);
    },
  },
  {
    name: 'sessions',
    synopsis: '[--revoke SID|all]',
    summary: "the console's sessions and passkeys of a cloud",
    args: 0,
    help: `List the console sessions and passkeys of the --eci cloud that the ECI may see (all of them with
the cloud's full authority, else those of that ECI). --revoke ends one session by its id, or all.`,
    async run(ctx) {
      const eci = await ctx.eci();
      if (ctx.v.revoke !== undefined) {
        const done = await ctx.client.revokeSessions(eci, ctx.v.revoke);
        ctx.print(done, `ended ${done.revoked} session(s)`);
        return;
      }
      const a = await ctx.client.sessions(eci);
      const when = (t: number | null) => (t === null ? 'never' : new Date(t).toISOString());
      const sessions = a.sessions.map((s) => [s.sid, s.via, when(s.created), when(s.expires), s.label]);
      const passkeys = a.passkeys.map((p) => [p.credId, when(p.created), when(p.lastUsed), p.label]);
      ctx.print(a, `${sessions.length === 0 ? '(no sessions)' : table(['SESSION', 'VIA', 'SINCE', 'UNTIL', 'BROWSER'], sessions)}\n${passkeys.length === 0 ? '(no passkeys)' : table(['PASSKEY', 'ADDED', 'LAST USED', 'LABEL'], passkeys)}`);
    },
  },
];
