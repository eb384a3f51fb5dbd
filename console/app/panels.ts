import qrcode from 'qrcode-generator';
import { ApiError, byEci, describeError, type Target } from './api.ts';
import { button, field, form, h, jsonOf, say, show, table, valueOf } from './dom.ts';
import { LINKS, WRANGLER, type CloudNode } from './tree.ts';
import { liveLog } from './live-log.ts';

/**
 * What the console shows of one cloud, one tab each: a table of name → view. Each view reads with
 * queries and acts with events on the cloud's target (the session's ECI, or a child's), so it can
 * do only what that ECI may; a refusal shows its code where the view would be.
 */

export interface PanelContext {
  node: CloudNode;
  /** Read the tree again (after something that changes it). */
  refresh(): Promise<void>;
}

type View = (el: HTMLElement, c: PanelContext) => Promise<void>;

const t = (c: PanelContext): Target => c.node.target;
const eci = (id: string) => h('code', { class: 'mono' }, id);
const policyText = (p: unknown) => h('code', { class: 'mono' }, JSON.stringify(p));

/** Copy text, saying so (or saying why not). */
function copy(text: string): Promise<void> {
  return navigator.clipboard.writeText(text).then(
    () => say('Copied.', true),
    () => say(new Error('the browser would not copy: select the text instead')),
  );
}

/** An event of the panel's cloud; says what it answered, then draws the panel again (`view`), or the whole tree when it changed (`null`). */
async function act(el: HTMLElement, c: PanelContext, view: View | null, domain: string, type: string, attrs: Record<string, unknown>, done: string): Promise<void> {
  await t(c).event(domain, type, attrs);
  say(done, true);
  await (view ? view(el, c) : c.refresh());
}

/** The rulesets every cloud has (the kernel refuses to uninstall them). */
const BUILT_IN = new Set([WRANGLER, LINKS]);

const apps: View = async (el, c) => {
  const [rids, installed] = await Promise.all([t(c).query<string[]>(WRANGLER, 'installedRids'), t(c).query<Array<{ rid: string; url?: string; version?: string; grant?: Record<string, unknown> }>>(WRANGLER, 'apps')]);
  const byRid = new Map(installed.map((a) => [a.rid, a]));
  const install = form(
    { class: 'row', 'aria-label': 'install an app' },
    async (f) => {
      const url = valueOf(f, 'url');
      try {
        await t(c).event('wrangler', 'install_ruleset_request', { url });
      } catch (err) {
        if (!(err instanceof ApiError && err.code === 'CONSENT_REQUIRED')) throw err;
        const asked = JSON.stringify(err.details['permissions'] ?? err.details, null, 1);
        if (!window.confirm(`This app asks for:\n${asked}\n\nGrant it?`)) return;
        await t(c).event('wrangler', 'install_ruleset_request', { url, consent: true });
      }
      say(`Installed ${url}.`, true);
      await apps(el, c);
    },
    field('App URL', 'url', { type: 'url', required: true, placeholder: 'https://example.com/app.krl' }),
    h('button', { type: 'submit' }, 'Install'),
  );
  const rows = rids.map((rid) => {
    const app = byRid.get(rid);
    const grant = app?.grant ? Object.entries(app.grant).flatMap(([perm, v]) => (v ? [perm] : [])) : [];
    return [
      h('strong', {}, rid),
      app?.version ?? (app ? '' : 'host ruleset'),
      h(
        'span',
        {},
        ...grant.map((p) =>
          h(
            'span',
            {},
            h('code', {}, p),
            ' ',
            button('revoke', () => act(el, c, apps, 'wrangler', 'app_revoke_request', { rid, permission: p }, `Revoked ${p}.`), 'quiet'),
            ' ',
          ),
        ),
      ),
      BUILT_IN.has(rid)
        ? h('span', { class: 'muted' }, 'built in')
        : h(
            'span',
            {},
            app?.url ? button('update', () => act(el, c, apps, 'wrangler', 'install_ruleset_request', { url: app.url, consent: true }, `Updated ${rid}.`), 'quiet') : '',
            ' ',
            button('uninstall', () => act(el, c, apps, 'wrangler', 'uninstall_ruleset_request', { rid }, `Uninstalled ${rid}.`), 'danger'),
          ),
    ];
  });
  show(el, install, table(['rid', 'version', 'permissions', ''], rows, 'Nothing installed.'));
};

const channels: View = async (el, c) => {
  const list = await t(c).query<Array<{ id: string; tags: string[]; eventPolicy: unknown; queryPolicy: unknown }>>(WRANGLER, 'channels');
  const make = form(
    { 'aria-label': 'make a channel' },
    async (f) => {
      const events = valueOf(f, 'events');
      const queries = valueOf(f, 'queries');
      const eventPolicy = events === '' ? undefined : { allow: events.split(/[\s,]+/).map((d) => ({ domain: d.split(':')[0], type: d.split(':')[1] ?? '*' })), deny: [] };
      const queryPolicy = queries === '' ? undefined : { allow: queries.split(/[\s,]+/).map((q) => ({ rid: q.split('/')[0], name: q.split('/')[1] ?? '*' })), deny: [] };
      const tags = valueOf(f, 'tags')
        .split(/[\s,]+/)
        .filter(Boolean);
      await act(el, c, channels, 'wrangler', 'new_channel_request', { tags, ...(eventPolicy ? { eventPolicy } : {}), ...(queryPolicy ? { queryPolicy } : {}) }, 'Channel made.');
    },
    h(
      'div',
      { class: 'row' },
      field('Tags', 'tags', { placeholder: 'app, phone' }),
      field('Events allowed (domain:type, * for any)', 'events', { placeholder: 'sensor:*' }),
      field('Queries allowed (rid/name)', 'queries', { placeholder: 'my.app/*' }),
    ),
    h('button', { type: 'submit' }, 'Make a channel'),
  );
  const rows = list.map((ch) => [
    eci(ch.id),
    ch.tags.join(', '),
    policyText(ch.eventPolicy),
    policyText(ch.queryPolicy),
    h(
      'span',
      {},
      button('copy', () => copy(ch.id), 'quiet'),
      ' ',
      button('delete', () => act(el, c, channels, 'wrangler', 'channel_deletion_request', { eci: ch.id }, 'Channel deleted.'), 'danger'),
    ),
  ]);
  show(el, make, table(['ECI', 'tags', 'events', 'queries', ''], rows));
};

type Bus = { Id: string; Tx?: string | null; Rx: string; Tx_host?: string | null; Rx_role?: string | null; Tx_role?: string | null; wellKnown_Tx?: string };

const links: View = async (el, c) => {
  const [established, inbound, outbound, wellKnown] = await Promise.all([
    t(c).query<Bus[]>(LINKS, 'established'),
    t(c).query<Bus[]>(LINKS, 'inbound'),
    t(c).query<Bus[]>(LINKS, 'outbound'),
    t(c).query<{ id: string } | null>(LINKS, 'wellKnown_Rx'),
  ]);
  const propose = form(
    { 'aria-label': 'propose a link' },
    async (f) => {
      const attrs: Record<string, unknown> = { wellKnown_Tx: valueOf(f, 'wellKnown_Tx') };
      for (const k of ['name', 'Rx_role', 'Tx_role', 'Tx_host']) if (valueOf(f, k) !== '') attrs[k] = valueOf(f, k);
      await act(el, c, null, 'wrangler', 'subscription', attrs, 'Link proposed.');
    },
    h(
      'div',
      { class: 'row' },
      field("The other cloud's well-known ECI", 'wellKnown_Tx', { required: true }),
      field('Name', 'name'),
      field('My role', 'Rx_role'),
      field('Their role', 'Tx_role'),
      field('Their host (another provider)', 'Tx_host', { placeholder: 'https://…' }),
    ),
    h('button', { type: 'submit' }, 'Propose'),
  );
  const after = (type: string, Id: string, done: string) => act(el, c, null, 'wrangler', type, { Id }, done);
  show(
    el,
    h('p', {}, 'Well-known ECI of this cloud (give it to whoever should link to it): ', wellKnown ? eci(wellKnown.id) : h('span', { class: 'muted' }, 'none'), ' ', wellKnown ? button('copy', () => copy(wellKnown.id), 'quiet') : ''),
    propose,
    h('h3', {}, 'Waiting for me'),
    table(
      ['Id', 'their role', 'host', ''],
      inbound.map((b) => [
        b.Id,
        b.Tx_role ?? '',
        b.Tx_host ?? 'this realm',
        h(
          'span',
          {},
          button('accept', () => after('pending_subscription_approval', b.Id, 'Link accepted.')),
          ' ',
          button('reject', () => after('inbound_rejection', b.Id, 'Link rejected.'), 'danger'),
        ),
      ]),
    ),
    h('h3', {}, 'Proposed by me'),
    table(
      ['Id', 'to', ''],
      outbound.map((b) => [b.Id, eci(b.wellKnown_Tx ?? ''), button('cancel', () => after('outbound_cancellation', b.Id, 'Proposal cancelled.'), 'danger')]),
    ),
    h('h3', {}, 'Established'),
    table(
      ['Id', 'my role', 'their role', 'host', ''],
      established.map((b) => [b.Id, b.Rx_role ?? '', b.Tx_role ?? '', b.Tx_host ?? 'this realm', button('remove', () => after('subscription_cancellation', b.Id, 'Link removed.'), 'danger')]),
    ),
  );
};

/** The claim code made last, shown until another cloud or tab is drawn. */
let lastClaim: { code: string; expires: number } | null = null;

const devices: View = async (el, c) => {
  const list = await t(c).query<Array<{ name: string; eci: string; id: string; events: string[]; created: number }>>(WRANGLER, 'devices');
  const made = h('div', { class: 'claim', 'aria-live': 'polite' });
  const claimShown = (code: string, expires: number) => {
    const qr = qrcode(0, 'M');
    qr.addData(code);
    qr.make();
    show(
      made,
      h(
        'div',
        { class: 'card' },
        h('p', {}, 'Claim code (one use, until ', new Date(expires).toLocaleString(), '): ', h('strong', { class: 'mono', 'data-claim-code': code }, code)),
        h('div', { class: 'qr' }, h('img', { src: qr.createDataURL(4, 2), alt: `QR code of the claim code ${code}` })),
      ),
    );
  };
  const add = form(
    { class: 'row', 'aria-label': 'add a device' },
    async (f) => {
      const answer = await t(c).event('wrangler', 'new_device_request', { name: valueOf(f, 'name'), ...(valueOf(f, 'events') ? { events: valueOf(f, 'events').split(/[\s,]+/) } : {}) });
      const d = answer.directives.find((x) => x.name === 'wrangler:new_device_created')?.options as { claim?: { code: string; expires: number } } | undefined;
      lastClaim = d?.claim ?? null;
      await c.refresh(); // the tree has a new cloud; the panel, drawn again, shows the code
    },
    field('Device name', 'name', { required: true, maxlength: 100 }),
    field('Event domains it may send', 'events', { placeholder: 'sensor' }),
    h('button', { type: 'submit' }, 'Add a device'),
  );
  // Last contact: the newest event of its domains in the device cloud's log (as far as the log remembers), as `kumo device ls` tells it.
  const seen = await Promise.all(
    list.map((d) =>
      byEci(d.eci)
        .logs(100)
        .then(
          (l) => l.entries.find((x) => d.events.includes(x.domain))?.time ?? null,
          () => null,
        ),
    ),
  );
  const rows = list.map((d, i) => [
    d.name,
    eci(d.eci),
    d.events.join(', '),
    seen[i] ? new Date(seen[i]).toLocaleString() : 'never',
    button(
      'new claim code',
      async () => {
        // Made in the device cloud (through the parent's ECI on it), for its ECI tagged "device".
        const device = byEci(d.eci);
        const ecis = await device.query<Array<{ id: string; tags: string[] }>>(WRANGLER, 'channels');
        const own = ecis.find((x) => x.tags.includes('device'));
        if (!own) throw new Error(`device ${d.name} has no ECI tagged "device"`);
        const a = await device.event('wrangler', 'claim_code_request', { eci: own.id });
        const o = a.directives.find((x) => x.name === 'wrangler:claim_code_created')!.options as { code: string; expires: number };
        claimShown(o.code, o.expires);
      },
      'quiet',
    ),
  ]);
  show(el, add, made, table(['name', 'ECI', 'events', 'last contact', ''], rows, 'No devices.'));
  if (lastClaim) claimShown(lastClaim.code, lastClaim.expires);
  lastClaim = null;
};

const schedules: View = async (el, c) => {
  const list = await t(c).query<Array<{ id: string; domain: string; type: string; next?: number; at?: number; cron?: string }>>(WRANGLER, 'schedules');
  show(
    el,
    table(
      ['id', 'event', 'next', ''],
      list.map((s) => [
        h('code', {}, s.id),
        `${s.domain}:${s.type}`,
        s.cron ?? new Date(s.next ?? s.at ?? 0).toLocaleString(),
        button('delete', () => act(el, c, schedules, 'wrangler', 'schedule_deletion_request', { id: s.id }, 'Schedule deleted.'), 'danger'),
      ]),
      'No schedules.',
    ),
  );
};

const deadLetters: View = async (el, c) => {
  const { deadLetters: list } = await t(c).deadLetters();
  const rows = (list as Array<{ seq: number; eci: string; event: { domain: string; type: string }; reason: { code: string; message: string }; time: number }>).map((d) => [
    String(d.seq),
    eci(d.eci),
    `${d.event.domain}:${d.event.type}`,
    h('span', { class: 'error' }, `${d.reason.code}: ${d.reason.message}`),
    new Date(d.time).toLocaleString(),
  ]);
  show(el, table(['#', 'to', 'event', 'why', 'when'], rows, 'No dead letters.'));
};

const testing: View = (el, c) => {
  const out = h('pre', { class: 'mono', 'aria-live': 'polite', 'data-testid': 'test-output' });
  const answer = (v: unknown) => show(out, JSON.stringify(v, null, 2));
  const failed = (err: unknown) => show(out, h('span', { class: 'error' }, describeError(err)));
  const send = form(
    { 'aria-label': 'send an event' },
    async (f) => t(c).event(valueOf(f, 'domain'), valueOf(f, 'type'), jsonOf(f, 'attrs')).then(answer, failed),
    h('div', { class: 'row' }, field('Domain', 'domain', { required: true }), field('Type', 'type', { required: true })),
    h('label', {}, 'Attributes (JSON)', h('textarea', { name: 'attrs', placeholder: '{"temperature": 21}' })),
    h('button', { type: 'submit' }, 'Send event'),
  );
  const run = form(
    { 'aria-label': 'run a function' },
    async (f) => t(c).query(valueOf(f, 'rid'), valueOf(f, 'name'), jsonOf(f, 'args')).then(answer, failed),
    h('div', { class: 'row' }, field('Ruleset', 'rid', { required: true }), field('Function', 'name', { required: true })),
    h('label', {}, 'Arguments (JSON)', h('textarea', { name: 'args' })),
    h('button', { type: 'submit' }, 'Run'),
  );
  show(el, h('div', { class: 'layout' }, h('div', {}, send, run), h('div', {}, h('h3', {}, 'Answer'), out)));
  return Promise.resolve();
};

const children: View = (el, c) => {
  const add = form(
    { class: 'row', 'aria-label': 'make a child' },
    async (f) => act(el, c, null, 'wrangler', 'new_child_request', { name: valueOf(f, 'name') }, 'Child made.'),
    field('Name', 'name', { required: true, maxlength: 100 }),
    h('button', { type: 'submit' }, 'Make a child'),
  );
  const rows = c.node.children.map((k) => [
    k.name,
    h('code', {}, k.id),
    button(
      'delete',
      async () => {
        if (!window.confirm(`Delete ${k.name} and everything under it?`)) return;
        await act(el, c, null, 'wrangler', 'child_deletion_request', { id: k.id }, 'Child deleted.');
      },
      'danger',
    ),
  ]);
  show(el, add, table(['name', 'id', ''], rows, 'No children.'));
  return Promise.resolve();
};

/** The tabs of a cloud, in order. */
export const PANELS: Array<{ name: string; view: View }> = [
  { name: 'Apps', view: apps },
  { name: 'Children', view: children },
  { name: 'Channels', view: channels },
  { name: 'Links', view: links },
  { name: 'Devices', view: devices },
  { name: 'Schedules', view: schedules },
  { name: 'Dead letters', view: deadLetters },
  { name: 'Log', view: (el, c) => Promise.resolve(liveLog(el, c.node.target)) },
  { name: 'Test', view: testing },
];
