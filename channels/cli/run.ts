import { parseArgs } from 'node:util';
import { HostError, UnreachableError } from './client.ts';
import { ArgumentError, Context, OPTIONS, UsageError, type CliIo, type Command } from './command.ts';
import { findCommand, helpFor, USAGE, usageLine } from './usage.ts';

/**
 * The `kumo` command line. Every command except `serve` and `realm up` talks to a running host over
 * HTTP with an ECI (`--eci`, `$KUMO_ECI`, or the root owner ECI in `<data>.eci`). Output is for
 * people; `--json` prints the host's JSON answer for scripts. Errors go to stderr with their reason:
 * a command line that is wrong (with the command's usage line) or names nothing there exits 2;
 * a host's refusal or an unreachable host exits 1.
 *
 * The commands are a table (commands/); this file finds the row and runs it.
 */

export type { CliIo };
export { USAGE };
export { keyValues } from './command.ts';

const parse = (argv: string[]) => parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });

/** Run the CLI; resolves to the exit code (`serve` resolves once the server is up). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    // The command, if one is named, says how it is called; else the whole usage.
    const named = findCommand(parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: false }).positionals);
    // Node's message goes on about positionals after "--": its first sentence says it.
    const why = (err as Error).message.split('. ')[0]!;
    io.err(`kumo: ${why}\n${named ? `usage: ${usageLine(named.command)}\n` : `\n${USAGE}`}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (positionals[0] === 'help') {
    const text = positionals.length === 1 ? USAGE : helpFor(positionals.slice(1));
    if (text === undefined) {
      io.err(`kumo: no command ${JSON.stringify(positionals.slice(1).join(' '))} (kumo help lists them)\n`);
      return 2;
    }
    io.out(text.endsWith('\n') ? text : `${text}\n`);
    return 0;
  }
  if (values.help || positionals.length === 0) {
    (values.help ? io.out : io.err)(USAGE);
    return values.help ? 0 : 2;
  }
  const found = findCommand(positionals);
  if (!found) {
    io.err(`kumo: no command ${JSON.stringify(positionals.slice(0, 2).join(' '))} (kumo help lists them)\n`);
    return 2;
  }
  const { command, args } = found;
  try {
    checkArgs(command, args);
    await command.run(new Context(values, io), args);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`kumo: ${err.message}\nusage: ${usageLine(command)}\n`);
      return 2;
    }
    if (err instanceof ArgumentError) {
      io.err(`kumo: ${err.message}\n`);
      return 2;
    }
    if (err instanceof HostError) {
      if (values.json) io.err(JSON.stringify(err.body) + '\n');
      else io.err(`kumo: ${err.code} (${err.status}): ${err.message}\n`);
      return 1;
    }
    if (err instanceof UnreachableError) {
      io.err(`kumo: ${err.message}\n`);
      return 1;
    }
    io.err(`kumo: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function checkArgs(command: Command, args: string[]): void {
  const [least, most] = typeof command.args === 'number' ? [command.args, command.args] : command.args;
  if (args.length < least) throw new UsageError(`kumo ${command.name} needs ${least === most ? least : `at least ${least}`} argument${least === 1 ? '' : 's'}`);
  if (args.length > most)
    throw new UsageError(
      `too many arguments: ${args
        .slice(most)
        .map((a) => JSON.stringify(a))
        .join(' ')}`,
    );
}
