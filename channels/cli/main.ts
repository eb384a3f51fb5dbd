/**
 * The `kumo` executable (run with tsx: `npm start`, `bin/kumo.js`). Thin on purpose: everything is
 * in run.ts so tests can drive it.
 */
import { fchmodSync, fstatSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { runCli } from './run.ts';

/**
 * Binary output (a cloud file) goes to stdout, which a shell's `> FILE` created with the umask's
 * mode (0644 mostly); it holds capabilities, so a regular file there is made readable by its owner
 * alone first. A pipe or a terminal has no mode to narrow.
 */
function privateStdout(data: Buffer): void {
  try {
    if (fstatSync(1).isFile()) fchmodSync(1, 0o600);
  } catch {
    // Another user's file, or a system that refuses: the data is written as asked.
  }
  process.stdout.write(data);
}

/** A yes/no question on the terminal: only "y" or "yes" is yes. */
async function ask(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}

const serving = process.argv[2] === 'serve' || (process.argv[2] === 'realm' && process.argv[3] === 'up');
const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  bytes: privateStdout,
  err: (text) => process.stderr.write(text),
  env: process.env,
  ...(process.stdin.isTTY ? { ask } : {}),
});
// `serve` and `realm up` keep running until a signal stops them; other commands are done.
if (!serving || code !== 0) process.exitCode = code;
