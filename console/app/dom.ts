import { describeError } from './api.ts';

/** A tiny element builder: `h('button', {onclick}, 'Save')`. Text children are text nodes (never HTML). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number | boolean | EventListener | null | undefined> = {},
  ...children: Array<Node | string | null | undefined | false>
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

/** Replace what `el` shows. */
export function show(el: Element, ...children: Array<Node | string | null | undefined | false>): void {
  el.replaceChildren(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
}

/** Say something in the page's alert region: a refusal (with its code), or `ok` news. */
export function say(what: unknown, ok = false): void {
  const el = document.getElementById('alert')!;
  el.textContent = ok ? String(what) : describeError(what);
  el.className = ok ? 'ok' : '';
  el.hidden = false;
  clearTimeout((say as { timer?: number }).timer);
  (say as { timer?: number }).timer = window.setTimeout(() => (el.hidden = true), 6000);
}

/** Run `work` for a button: disabled meanwhile, its refusal said. */
export async function busy(button: HTMLButtonElement | null, work: () => Promise<unknown>): Promise<void> {
  if (button) button.disabled = true;
  try {
    await work();
  } catch (err) {
    say(err);
  } finally {
    if (button) button.disabled = false;
  }
}

/** A form whose submit runs `work` (with its submit button busy). */
export function form(attrs: Parameters<typeof h>[1], work: (f: HTMLFormElement) => Promise<unknown>, ...children: Array<Node | string | null | undefined | false>): HTMLFormElement {
  const f = h('form', attrs, ...children);
  f.addEventListener('submit', (ev) => {
    ev.preventDefault();
    void busy(f.querySelector('button[type=submit]'), () => work(f));
  });
  return f;
}

/** A labelled input. */
export function field(label: string, name: string, attrs: Parameters<typeof h>[1] = {}): HTMLLabelElement {
  return h('label', {}, label, ' ', h('input', { name, ...attrs }));
}

/** The value of a form's field. */
export function valueOf(f: HTMLFormElement, name: string): string {
  return ((f.elements.namedItem(name) as HTMLInputElement | HTMLTextAreaElement | null)?.value ?? '').trim();
}

/** JSON typed in a form, as an object (empty: `{}`); a clear refusal otherwise. */
export function jsonOf(f: HTMLFormElement, name: string): Record<string, unknown> {
  const text = valueOf(f, name);
  if (text === '') return {};
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error(`${name}: not valid JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${name}: give a JSON object, such as {"a": 1}`);
  return v as Record<string, unknown>;
}

/** A table of rows (cells are nodes or text). */
export function table(head: string[], rows: Array<Array<Node | string>>, empty = 'None.'): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'muted' }, empty);
  return h('table', {}, h('thead', {}, h('tr', {}, ...head.map((c) => h('th', { scope: 'col' }, c)))), h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((c) => h('td', {}, c))))));
}

/** A button. */
export function button(text: string, onclick: (b: HTMLButtonElement) => Promise<unknown>, cls = ''): HTMLButtonElement {
  const b = h('button', { type: 'button', class: cls }, text);
  b.addEventListener('click', () => void busy(b, () => onclick(b)));
  return b;
}
