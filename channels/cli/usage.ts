import type { Command } from './command.ts';
import { COMMANDS } from './commands/index.ts';

/** The usage and help texts, made from the command table (commands/). */

const CONNECTION = `  --url URL     the host (default $KUMO_URL or http://localhost:3000)
  --eci ECI     the cloud to act on (default $KUMO_ECI or the ECI in <data>.eci)
  --data DIR    the host's data directory (default $KUMO_DATA or ./kumo-data)
  --json        print JSON for scripts`;

const HELP_COMMAND = { name: 'help', synopsis: '[COMMAND]', summary: 'what a command does (kumo help eci new)' };

/** Where a summary starts when it fits on the usage line. */
const COLUMN = 33;

/** `kumo NAME SYNOPSIS`: how a command is called. */
export function usageLine(c: Pick<Command, 'name' | 'synopsis'>): string {
  return `kumo ${c.name}${c.synopsis ? ` ${c.synopsis}` : ''}`;
}

function usageEntry(c: Pick<Command, 'name' | 'synopsis' | 'summary'>): string {
  const line = `  ${usageLine(c)}`;
  if (!c.summary) return line;
  if (line.length < COLUMN - 1 && !line.includes('\n')) return `${line.padEnd(COLUMN)}${c.summary}`;
  return `${line}\n${' '.repeat(COLUMN)}${c.summary}`;
}

export const USAGE = `kumo: a personal-cloud host

usage:
${[...COMMANDS, HELP_COMMAND].map(usageEntry).join('\n')}

options:
${CONNECTION}

environment: KUMO_URL, KUMO_ECI, KUMO_DATA (as above), PORT (kumo serve's port)
`;

/** The command named by the longest prefix of `words`, and the words after its name. */
export function findCommand(words: string[]): { command: Command; args: string[] } | undefined {
  for (let n = Math.min(2, words.length); n > 0; n--) {
    const command = COMMANDS.find((c) => c.name === words.slice(0, n).join(' '));
    if (command) return { command, args: words.slice(n) };
  }
  return undefined;
}

function helpOf(c: Command): string {
  // A help that gives its own forms of the command (cloud rm) starts with them.
  const head = c.help.startsWith('kumo ') ? '' : `${usageLine(c)}\n\n`;
  return `${head}${c.help}${c.remote === false ? '' : `\n\n${CONNECTION}`}`;
}

/** `kumo help WORDS`: the help of a command, or of every command of a group (`kumo help cloud`); undefined for none. */
export function helpFor(words: string[]): string | undefined {
  const key = words.join(' ');
  if (key === 'help') return `${usageLine(HELP_COMMAND)}\n\nPrint the usage, or what COMMAND does (kumo help eci, kumo help eci new).`;
  const one = COMMANDS.find((c) => c.name === key);
  if (one) return helpOf(one);
  const group = COMMANDS.filter((c) => c.name.startsWith(`${key} `));
  return words.length === 1 && group.length > 0 ? group.map(helpOf).join('\n\n') : undefined;
}
