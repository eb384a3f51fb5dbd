/** Human-readable output for the CLI (the `--json` output is the host's JSON, untouched). */

/** Left-aligned columns with a header row. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** An event's answer: its eid, then one line per directive. */
export function formatDirectives(r: { eid: string; directives: Array<{ name: string; options: Record<string, unknown>; meta: { rid: string; rule: string } }> }): string {
  const lines = [`eid ${r.eid}`];
  if (r.directives.length === 0) lines.push('(no directives)');
  for (const d of r.directives) {
    const opts = Object.keys(d.options).length > 0 ? ` ${JSON.stringify(d.options)}` : '';
    lines.push(`${d.name}${opts}  [${d.meta.rid}/${d.meta.rule}]`);
  }
  return lines.join('\n');
}

/**
 * An ECI policy on one line: its allow rules (`domain:name` or `rid/name`), "none" when it allows
 * nothing, then the deny rules after "except".
 */
export function formatPolicy(policy: { allow: Array<Record<string, string>>; deny: Array<Record<string, string>> } | undefined): string {
  if (!policy) return '?';
  const rule = (r: Record<string, string>): string => ('domain' in r ? `${r['domain']}:${r['name']}` : `${r['rid']}/${r['name']}`);
  const allow = policy.allow.length === 0 ? 'none' : policy.allow.map(rule).join(', ');
  return policy.deny.length === 0 || policy.allow.length === 0 ? allow : `${allow} except ${policy.deny.map(rule).join(', ')}`;
}

/** One episode-log entry on one line. */
export function formatLogEntry(e: Record<string, unknown>): string {
  const time = typeof e['time'] === 'number' ? new Date(e['time']).toISOString() : '?';
  const fired = (e['fired'] as string[] | undefined) ?? [];
  const error = e['error'] as { code: string; message: string } | undefined;
  const dead = e['deadLetter'] as { eci: string } | undefined;
  const outcome = dead ? `DEAD LETTER to ${dead.eci} ${error?.code}: ${error?.message}` : error ? `ERROR ${error.code}: ${error.message}` : `fired ${fired.length ? fired.join(', ') : '(none)'}`;
  const ms = typeof e['ms'] === 'number' ? ` ${e['ms'].toFixed(1)}ms` : '';
  return `#${String(e['seq'])} ${time} ${String(e['domain'])}:${String(e['type'])} eid=${String(e['eid'])} ${outcome}${ms}`;
}
