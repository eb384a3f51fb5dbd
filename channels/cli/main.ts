/**
 * The `kumo` executable (run with tsx: `npm start`, `bin/kumo.js`). Thin on purpose: everything is
 * in run.ts so tests can drive it.
 */
import { runCli } from './run.ts';

const serving = process.argv[2] === 'serve' || (process.argv[2] === 'realm' && process.argv[3] === 'up');
const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  bytes: (data) => process.stdout.write(data),
  err: (text) => process.stderr.write(text),
  env: process.env,
});
// `serve` and `realm up` keep running until a signal stops them; other commands are done.
if (!serving || code !== 0) process.exitCode = code;
