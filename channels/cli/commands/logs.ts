import { countOption, type Command } from '../command.ts';
import { formatLogEntry, table } from '../format.ts';

/** What a cloud did: its episode log, and the outgoing events that could never be delivered. */
export const logCommands: Command[] = [
  {
    name: 'logs',
    synopsis: '[--follow] [--limit N]',
    args: 0,
    help: `Print the episode log of the --eci cloud, oldest first (with --json too). Needs an ECI tagged
system (the owner's, or a parent's on a child). --follow then prints each new episode until
Ctrl-C, starting with the last 10 unless --limit says otherwise.`,
    async run(ctx) {
      const { v, io, client } = ctx;
      const eci = await ctx.eci();
      const limit = v.limit === undefined ? undefined : countOption('--limit', v.limit, 1, Number.MAX_SAFE_INTEGER);
      const show = (e: Record<string, unknown>): void => io.out(v.json ? JSON.stringify(e) + '\n' : formatLogEntry(e) + '\n');
      if (!v.follow) {
        // Oldest first, in text and JSON alike (the host answers newest first), as --follow prints.
        const entries = (await client.logs(eci, limit)).entries.reverse();
        if (v.json) io.out(JSON.stringify(entries, null, 2) + '\n');
        else if (entries.length === 0) io.out('(no episodes yet)\n');
        else for (const e of entries) show(e);
        return;
      }
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      await client.follow(eci, show, limit ?? 10, stop.signal);
    },
  },
  {
    name: 'dead-letters',
    summary: 'outgoing events that could never be delivered',
    args: 0,
    help: `List the outgoing events of the --eci cloud that could never be delivered, newest first (an ECI
tagged system only).`,
    async run(ctx) {
      const { deadLetters } = await ctx.client.deadLetters(await ctx.eci());
      const rows = deadLetters.map((d) => [new Date(d.time).toISOString(), `${d.event.domain}:${d.event.type}`, d.eci, `${d.reason.code}: ${d.reason.message}`]);
      ctx.print(deadLetters, rows.length === 0 ? '(no dead letters)' : table(['TIME', 'EVENT', 'TO ECI', 'REASON'], rows));
    },
  },
];
