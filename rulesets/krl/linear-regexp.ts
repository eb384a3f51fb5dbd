import { RE2JS } from 're2js';

/**
 * KRL's regular expressions run in linear time (docs/krl.md, "Regular expressions"): a RegExp
 * whose matching is RE2's (`re2js`, a port of RE2 to JavaScript), so no pattern a ruleset writes or
 * builds can backtrack for ever on the host's thread (`(a+)+$` against a long string). It is a
 * RegExp, so everything that takes one (String's match, replace, split, the event expressions'
 * attribute tests) runs it: those call `exec`, which is RE2's here. What RE2 cannot run in linear
 * time (backreferences, lookarounds) is refused when it is made.
 */
export class LinearRegExp extends RegExp {
  readonly #re2: RE2JS;

  constructor(pattern: string | RegExp, flags?: string) {
    super(pattern, flags);
    let f = 0;
    if (this.ignoreCase) f |= RE2JS.CASE_INSENSITIVE;
    if (this.multiline) f |= RE2JS.MULTILINE;
    if (this.dotAll) f |= RE2JS.DOTALL;
    this.#re2 = RE2JS.compile(this.source, f);
  }

  override exec(input: string): RegExpExecArray | null {
    const s = String(input);
    const keeps = this.global || this.sticky;
    const from = keeps ? this.lastIndex : 0;
    const m = this.#re2.matcher(s);
    if (from > s.length || !m.find(from) || (this.sticky && m.start() !== from)) {
      if (keeps) this.lastIndex = 0;
      return null;
    }
    const found: Array<string | undefined> = [];
    for (let i = 0; i <= m.groupCount(); i++) found.push(m.group(i) ?? undefined);
    const named = this.#re2.namedGroups();
    const names = Object.keys(named);
    const groups = names.length === 0 ? undefined : Object.fromEntries(names.map((n) => [n, found[named[n]!]]));
    if (keeps) this.lastIndex = m.end();
    return Object.assign(found as RegExpExecArray, { index: m.start(), input: s, groups });
  }

  /** Split without the sticky search String#split would run at every position (quadratic in RE2). */
  override [Symbol.split](input: string, limit?: number): string[] {
    const s = String(input);
    const max = limit === undefined ? Infinity : limit >>> 0;
    const m = this.#re2.matcher(s);
    if (s.length === 0) return m.find(0) || max === 0 ? [] : [s];
    const out: string[] = [];
    let last = 0;
    for (let from = 0; from <= s.length && out.length < max && m.find(from);) {
      const [start, end] = [m.start(), m.end()];
      if (end === start && (start === last || start >= s.length)) {
        from = start + 1;
        continue;
      }
      out.push(s.slice(last, start));
      for (let i = 1; i <= m.groupCount() && out.length < max; i++) out.push(m.group(i) ?? (undefined as unknown as string));
      last = end;
      from = end === start ? end + 1 : end;
    }
    if (out.length < max) out.push(s.slice(last));
    return out;
  }
}
