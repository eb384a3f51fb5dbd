import type { Target } from './api.ts';
import { h, show } from './dom.ts';

/**
 * The live episode log of a cloud (server-sent events of its log), filterable, with a chart of
 * events and errors per second over the last minute, counted from the same entries.
 */

interface Entry {
  seq: number;
  eid: string;
  domain: string;
  type: string;
  time: number;
  fired: string[];
  directives: Array<{ name: string }>;
  error?: { code: string; message: string; rid?: string; rule?: string };
  ms: number;
}

const WINDOW_S = 60;
const KEEP = 500;
let open: EventSource | null = null;

/** Stop following the log shown last (another cloud or tab was chosen). */
export function stopLog(): void {
  open?.close();
  open = null;
}

/** Follow `target`'s log into `el`. */
export function liveLog(el: HTMLElement, target: Target): void {
  stopLog();
  const entries: Entry[] = [];
  const list = h('ul', { class: 'log', 'aria-label': 'episode log', 'data-testid': 'log' });
  const filter = h('input', { type: 'search', placeholder: 'filter: domain, type, rule, error code', 'aria-label': 'filter the log' });
  const chart = h('div', { class: 'chart', 'aria-label': 'events and errors per second, last minute' });
  const status = h('span', { class: 'muted', 'aria-live': 'polite' }, 'connecting…');
  const draw = () => {
    const words = filter.value.trim().toLowerCase();
    const shown = entries.filter((e) => words === '' || line(e).toLowerCase().includes(words));
    show(list, ...shown.slice(0, 200).map((e) => h('li', { class: e.error ? 'error' : '' }, line(e))));
    show(chart, bars(entries));
  };
  filter.addEventListener('input', draw);
  show(el, h('div', { class: 'row' }, filter, status), chart, list);
  const source = new EventSource(target.logsUrl(100), { withCredentials: false });
  open = source;
  source.addEventListener('open', () => (status.textContent = 'live'));
  source.addEventListener('error', () => (status.textContent = 'disconnected (this ECI may not read the log: it needs the "system" tag)'));
  source.addEventListener('entry', (ev) => {
    entries.unshift(JSON.parse((ev as MessageEvent<string>).data) as Entry);
    entries.length = Math.min(entries.length, KEEP);
    draw();
  });
  draw();
}

function line(e: Entry): string {
  const when = new Date(e.time).toLocaleTimeString();
  const what = e.error ? `${e.error.code} ${e.error.rid ?? ''}/${e.error.rule ?? ''}: ${e.error.message}` : `fired ${e.fired.join(' ') || 'nothing'}; ${e.directives.length} directive(s)`;
  return `${when} #${e.seq} ${e.domain}:${e.type} ${what} (${e.ms.toFixed(1)} ms)`;
}

/** Events (and errors) per second of the last minute, as SVG bars. */
function bars(entries: Entry[]): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const now = Math.floor(Date.now() / 1000);
  const counts = Array.from({ length: WINDOW_S }, () => ({ ev: 0, err: 0 }));
  for (const e of entries) {
    const ago = now - Math.floor(e.time / 1000);
    if (ago < 0 || ago >= WINDOW_S) continue;
    counts[WINDOW_S - 1 - ago]!.ev++;
    if (e.error) counts[WINDOW_S - 1 - ago]!.err++;
  }
  const max = Math.max(1, ...counts.map((c) => c.ev));
  const out = document.createElementNS(ns, 'svg');
  out.setAttribute('viewBox', `0 0 ${WINDOW_S * 5} 40`);
  out.setAttribute('role', 'img');
  out.setAttribute('aria-label', `${counts.reduce((n, c) => n + c.ev, 0)} events and ${counts.reduce((n, c) => n + c.err, 0)} errors in the last minute`);
  counts.forEach((c, i) => {
    for (const [cls, n] of [
      ['ev', c.ev],
      ['err', c.err],
    ] as const) {
      if (n === 0) continue;
      const r = document.createElementNS(ns, 'rect');
      const hgt = (n / max) * 38;
      r.setAttribute('class', cls);
      r.setAttribute('x', String(i * 5));
      r.setAttribute('y', String(40 - hgt));
      r.setAttribute('width', '4');
      r.setAttribute('height', String(hgt));
      out.append(r);
    }
  });
  return out;
}
