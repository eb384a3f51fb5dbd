/**
 * The `kumo` executable (run with tsx: `npm start`, `bin/kumo.js`). Thin on purpose: everything is
 * in run.ts so tests can drive it.
 */
import { runCli } from './run.ts';

const serving = process.argv[2] === 'serve';
const code = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
});
// `serve` keeps running until a signal stops it; other commands are done.
if (!serving || code !== 0) process.exitCode = code;
