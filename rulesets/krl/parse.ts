import parseKrl from 'krl-parser';
import type * as K from 'krl-parser/dist/src/types.js';
import { InvalidAppError } from '../../kernel/index.ts';

/**
 * KRL's syntax: the pico project's own parser, pinned (`krl-parser` 1.3.0: pico's syntax exactly,
 * with a typed node for everything; docs/krl.md says why). What it refuses is INVALID_APP naming
 * the line and column.
 */
export type { K };

/** Whether `source` is KRL rather than an ES module: its first word, after comments, is `ruleset`. */
export function isKrl(source: string): boolean {
  return /^(?:\s|\/\/[^\n]*\n|\/\*[\s\S]*?\*\/)*ruleset\b(?!\s*[(.])/.test(source);
}

/** Where in `source` offset `at` is, 1-based. */
export function position(source: string, at: number): { line: number; column: number } {
  const before = source.slice(0, at).split('\n');
  return { line: before.length, column: before.at(-1)!.length + 1 };
}

/** Parse KRL source into pico's syntax tree; a syntax error is INVALID_APP at its line and column. */
export function parse(source: string): K.Ruleset {
  let ast;
  try {
    ast = parseKrl(source);
  } catch (err) {
    const e = err as Error & { token?: { loc: { start: number } } };
    // The parser's own errors name a token; a regular expression JavaScript refuses does not.
    if (!e.token) throw new InvalidAppError(`KRL syntax error: ${e.message}`);
    const at = position(source, e.token.loc.start);
    throw new InvalidAppError(`KRL syntax error at line ${at.line}, column ${at.column}: ${e.message}`, at);
  }
  if (Array.isArray(ast)) throw new InvalidAppError('KRL source must be one ruleset { … }, not expressions', { line: 1, column: 1 });
  return ast;
}
