import { browserSupportsWebAuthn, startAuthentication, startRegistration } from '@simplewebauthn/browser';
import { ApiError, consoleCall, forget, type SessionInfo } from './api.ts';
import { button, field, form, h, say, show, table, valueOf } from './dom.ts';
import { PANELS } from './panels.ts';
import { stopLog } from './live-log.ts';
import { drawTree, loadTree, type CloudNode } from './tree.ts';

/**
 * The owner's console (docs/console.md): sign in (a passkey, or the first time a one-time code from
 * `kumo login`), then the cloud tree and, for the cloud chosen in it, its tabs.
 */

const main = document.getElementById('main')!;
const who = document.getElementById('who')!;

async function boot(): Promise<void> {
  try {
    signedIn(await consoleCall<SessionInfo>('session'));
  } catch (err) {
    if (err instanceof ApiError && err.code === 'SESSION_INVALID') signInView();
    else show(main, h('p', { class: 'error' }, String(err)));
  }
}

function signInView(): void {
  stopLog();
  forget();
  show(who);
  const withCode = form(
    { 'aria-label': 'sign in with a code' },
    async (f) => signedIn(await consoleCall<SessionInfo>('signin/code', { code: valueOf(f, 'code') })),
    h('p', {}, 'First time here? Run ', h('code', {}, 'kumo login'), ' where kumo runs and type the code it prints.'),
    field('Sign-in code', 'code', { required: true, autocomplete: 'one-time-code', placeholder: 'XXXX-XXXX-XXXX', maxlength: 40 }),
    h('button', { type: 'submit' }, 'Sign in with the code'),
  );
  const withPasskey = button('Sign in with a passkey', async () => {
    const options = await consoleCall<Parameters<typeof startAuthentication>[0]['optionsJSON']>('signin/options', {});
    const response = await startAuthentication({ optionsJSON: options });
    signedIn(await consoleCall<SessionInfo>('signin/passkey', { response }));
  });
  // Over plain http on another name than localhost, the browser keeps no Secure cookie and offers no passkeys.
  const insecure = window.isSecureContext
    ? null
    : h('p', { class: 'banner', role: 'note' }, 'This page is not in a secure context, so the browser will keep no session and offer no passkeys: open the console over https, or at http://localhost.');
  show(main, h('section', { class: 'card signin' }, h('h2', {}, 'Sign in to your cloud'), insecure, browserSupportsWebAuthn() ? withPasskey : h('p', { class: 'muted' }, 'This browser has no passkeys.'), h('hr'), withCode));
}

let session: SessionInfo;
let tree: CloudNode | null = null;
let selected: CloudNode | null = null;
let tab = PANELS[0]!.name;

function signedIn(s: SessionInfo): void {
  session = s;
  show(
    who,
    h('span', {}, `signed in to ${s.cloudId} as ${s.tags.join(', ') || 'a narrow ECI'}`),
    button(
      'Sign out',
      async () => {
        await consoleCall('signout', {});
        signInView();
        say('Signed out.', true);
      },
      'quiet',
    ),
  );
  void shell();
}

async function shell(): Promise<void> {
  const banner = h('div');
  const treeBox = h('section', { class: 'card', 'aria-label': 'clouds' }, h('h2', {}, 'Clouds'), h('p', {}, 'Loading…'));
  const detail = h('section', { class: 'card', 'aria-label': 'the chosen cloud' });
  show(main, banner, h('div', { class: 'layout' }, treeBox, detail));
  await accessBanner(banner);
  const drawn = () => show(treeBox, h('h2', {}, 'Clouds'), drawTree(tree!, selected, choose), h('p', {}, button('Reload', refresh, 'quiet')));
  /** Read the tree again and show it, with the chosen cloud (the same one, if it is still there) and its tab. */
  const refresh = async () => {
    tree = await loadTree();
    const keep = selected?.id;
    selected = (keep && find(tree, keep)) || tree;
    drawn();
    await cloudView(detail, refresh);
  };
  const choose = (n: CloudNode) => {
    selected = n;
    drawn();
    void cloudView(detail, refresh);
  };
  await refresh();
}

function find(n: CloudNode, id: string): CloudNode | null {
  if (n.id === id) return n;
  for (const k of n.children) {
    const f = find(k, id);
    if (f) return f;
  }
  return null;
}

async function cloudView(detail: HTMLElement, refresh: () => Promise<void>): Promise<void> {
  const node = selected!;
  stopLog();
  const body = h('div', { role: 'tabpanel' });
  const tabs = [...PANELS.map((p) => p.name), ...(node.parent === null ? ['Access'] : [])];
  const bar = h('div', { class: 'tabs', role: 'tablist' });
  const open = async (name: string) => {
    tab = name;
    stopLog();
    show(bar, ...tabs.map((n) => h('button', { type: 'button', role: 'tab', 'aria-selected': String(n === name), onclick: () => void open(n) }, n)));
    show(body, h('p', { class: 'muted' }, 'Loading…'));
    try {
      if (name === 'Access') await accessView(body);
      else await PANELS.find((p) => p.name === name)!.view(body, { node, refresh });
    } catch (err) {
      show(body, h('p', { class: 'error' }, err instanceof ApiError ? `${err.code}: ${err.message}` : String(err)));
    }
  };
  show(detail, h('h2', {}, node.name, ' ', h('small', { class: 'muted mono' }, node.id)), node.hidden ? h('p', { class: 'muted' }, `Part of this cloud is hidden from this sign-in: ${node.hidden}`) : null, bar, body);
  await open(tabs.includes(tab) ? tab : tabs[0]!);
}

/** Offer a passkey when this sign-in's ECI has none yet. */
async function accessBanner(el: HTMLElement): Promise<void> {
  const { passkeys } = await consoleCall<{ passkeys: Array<{ eci: string }> }>('access');
  if (passkeys.some((p) => p.eci === session.eci) || !browserSupportsWebAuthn()) return show(el);
  show(
    el,
    h(
      'div',
      { class: 'banner' },
      'Add a passkey to sign in again without a code. ',
      button('Add a passkey', async () => (await addPasskey(), show(el))),
    ),
  );
}

async function addPasskey(): Promise<void> {
  const options = await consoleCall<Parameters<typeof startRegistration>[0]['optionsJSON']>('passkeys/options', { name: `kumo ${session.cloudId}` });
  const response = await startRegistration({ optionsJSON: options });
  await consoleCall('passkeys/add', { response });
  say('Passkey added.', true);
}

async function accessView(el: HTMLElement): Promise<void> {
  const a = await consoleCall<{
    current: string;
    sessions: Array<{ sid: string; label: string; created: number; expires: number; via: string }>;
    passkeys: Array<{ credId: string; label: string; created: number; lastUsed: number | null }>;
  }>('access');
  const again = () => accessView(el);
  show(
    el,
    h('h3', {}, 'Passkeys'),
    button('Add a passkey', async () => (await addPasskey(), again())),
    table(
      ['passkey', 'added', 'last used', ''],
      a.passkeys.map((p) => [
        p.label,
        new Date(p.created).toLocaleString(),
        p.lastUsed ? new Date(p.lastUsed).toLocaleString() : 'never',
        button('remove', async () => (await consoleCall('passkeys/remove', { credId: p.credId }), again()), 'danger'),
      ]),
      'No passkeys yet.',
    ),
    h('h3', {}, 'Sessions'),
    table(
      ['browser', 'how', 'since', 'until', ''],
      a.sessions.map((s) => [
        s.label + (s.sid === a.current ? ' (this one)' : ''),
        s.via,
        new Date(s.created).toLocaleString(),
        new Date(s.expires).toLocaleString(),
        button('revoke', async () => (await consoleCall('access/revoke', { sid: s.sid }), s.sid === a.current ? signInView() : again()), 'danger'),
      ]),
    ),
  );
}

void boot();
