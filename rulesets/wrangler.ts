import { InvalidArgsError } from '../kernel/index.ts';
import { ruleset, z } from './builder.ts';

/**
 * The built-in management ruleset, installed in every cloud, with the pico engine's wrangler rid,
 * event names and shared functions so pico clients recognise it. Each request answers with a
 * directive describing what was made or removed, and raises the matching `wrangler:*` event so other
 * rulesets can react in the same episode (for example to `wrangler:ruleset_installed`).
 *
 * A cloud's children can be managed only through it (the parent): every operation here acts on the
 * cloud that received the event.
 *
 * Devices are kumo's own addition: a device is a child cloud with a narrow device ECI and a one-time
 * claim code that hands the ECI to the device. The parent keeps one entity per device (`device:{id}`)
 * so `devices()` can list them.
 */
export const WRANGLER_RID = 'io.picolabs.wrangler';

const deviceEntity = (id: string): string => `device:${id}`;

/** What the parent keeps about each of its devices. */
interface DeviceRecord {
  events: string[];
  rids: string[];
  created: number;
}

/** Attrs from query strings and forms arrive as strings: accept JSON text where an object is expected. */
export const jsonish = <T extends z.ZodType>(schema: T) =>
  z.preprocess((v) => {
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch {
      return v;
    }
  }, schema);

// A list from JSON, or a comma-separated string from a query string or form.
const names = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
      : v,
  z.array(z.string()).optional(),
);

export const wrangler = ruleset(WRANGLER_RID, {
  version: '1.0.0',
  name: 'wrangler',
  description: 'Manage a cloud: children, channels (ECIs) and installed rulesets.',
})
  .rule('new_child_request', {
    select: 'wrangler:new_child_request',
    attrs: z.object({ name: z.string().min(1).max(100), rids: names }),
    async action(ctx) {
      const child = await ctx.newChild(ctx.attrs.name, { rids: ctx.attrs.rids ?? [] });
      ctx.directive('wrangler:new_child_created', { name: child.name, eci: child.eci, id: child.id });
      ctx.raise('wrangler', 'new_child_created', { name: child.name, eci: child.eci, id: child.id });
    },
  })
  .rule('child_deletion_request', {
    select: 'wrangler:child_deletion_request',
    attrs: z.object({ eci: z.string().optional(), name: z.string().optional(), id: z.string().optional() }).refine((a) => a.eci ?? a.name ?? a.id, 'give the eci, name or id of the child'),
    async action(ctx) {
      const { eci, name, id } = ctx.attrs;
      // Only by what was given: a name never matches another child's id.
      const child = await ctx.deleteChild({ eci, name, id });
      if (ctx.ent.has(deviceEntity(child.id))) ctx.ent.delete(deviceEntity(child.id));
      ctx.directive('wrangler:child_deleted', { name: child.name, eci: child.eci, id: child.id });
      ctx.raise('wrangler', 'child_deleted', { name: child.name, eci: child.eci, id: child.id });
    },
  })
  .rule('new_device_request', {
    select: 'wrangler:new_device_request',
    attrs: z.object({ name: z.string().min(1).max(100), rids: names, events: names, expiresIn: z.unknown().optional() }),
    async action(ctx) {
      const { name, rids = [], events, expiresIn } = ctx.attrs;
      const made = await ctx.newDevice(name, { rids, events, expiresIn });
      const record: DeviceRecord = { events: made.device.events, rids: made.device.rids, created: ctx.now() };
      ctx.ent.set(deviceEntity(made.id), record);
      // The claim code is in the directive only: it reaches the owner who asked, and nothing else keeps it.
      ctx.directive('wrangler:new_device_created', { ...made });
      ctx.raise('wrangler', 'new_device_created', { name: made.name, eci: made.eci, id: made.id });
    },
  })
  .rule('claim_code_request', {
    select: 'wrangler:claim_code_request',
    attrs: z.object({ eci: z.string().min(1), expiresIn: z.unknown().optional() }),
    async action(ctx) {
      const claim = await ctx.newClaimCode(ctx.attrs.eci, { expiresIn: ctx.attrs.expiresIn });
      ctx.directive('wrangler:claim_code_created', { eci: ctx.attrs.eci, ...claim });
    },
  })
  .rule('new_channel_request', {
    select: 'wrangler:new_channel_request',
    attrs: z.object({ tags: names, eventPolicy: jsonish(z.unknown()), queryPolicy: jsonish(z.unknown()) }),
    action(ctx) {
      const eci = ctx.newEci(ctx.attrs);
      ctx.directive('wrangler:channel_created', { ...eci });
      ctx.raise('wrangler', 'channel_created', { channel: eci });
    },
  })
  .rule('channel_deletion_request', {
    select: 'wrangler:channel_deletion_request',
    attrs: z.object({ eci: z.string().min(1) }),
    action(ctx) {
      ctx.deleteEci(ctx.attrs.eci);
      ctx.directive('wrangler:channel_deleted', { eci: ctx.attrs.eci });
      ctx.raise('wrangler', 'channel_deleted', { eci: ctx.attrs.eci });
    },
  })
  .rule('install_ruleset_request', {
    // A ruleset of the host's by rid, or an app (docs/apps.md) from a url or its source, as pico
    // installs a ruleset by url; with both a rid and an app, the app must have that rid.
    select: 'wrangler:install_ruleset_request',
    attrs: z
      .object({
        rid: z.string().min(1).optional(),
        url: z.string().min(1).max(2000).optional(),
        source: z.string().min(1).optional(),
        config: jsonish(z.record(z.string(), z.unknown())).optional(),
        consent: z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean()).optional(),
      })
      .refine((a) => (a.url === undefined || a.source === undefined) && (a.rid ?? a.url ?? a.source) !== undefined, 'give the rid of a ruleset of the host, or the url or source of an app (one of the two)'),
    async action(ctx) {
      const { rid, url, source, config = {}, consent } = ctx.attrs;
      const installed = url === undefined && source === undefined ? (ctx.install(rid!, config), { rid: rid!, config }) : await ctx.installApp({ url, source, config, consent });
      if (rid !== undefined && installed.rid !== rid) throw new InvalidArgsError(`the app is ${installed.rid}, not ${rid}`);
      ctx.directive('wrangler:ruleset_installed', { ...installed });
      ctx.raise('wrangler', 'ruleset_installed', { ...installed, rids: [installed.rid] });
    },
  })
  .rule('app_revoke_request', {
    // kumo's own: take back a permission granted to an installed app.
    select: 'wrangler:app_revoke_request',
    attrs: z.object({ rid: z.string().min(1), permission: z.string().min(1) }),
    action(ctx) {
      ctx.revoke(ctx.attrs.rid, ctx.attrs.permission);
      ctx.directive('wrangler:app_revoked', { rid: ctx.attrs.rid, permission: ctx.attrs.permission });
    },
  })
  .rule('uninstall_ruleset_request', {
    select: 'wrangler:uninstall_ruleset_request',
    attrs: z.object({ rid: z.string().min(1) }),
    action(ctx) {
      ctx.uninstall(ctx.attrs.rid);
      ctx.directive('wrangler:ruleset_uninstalled', { rid: ctx.attrs.rid });
      ctx.raise('wrangler', 'ruleset_uninstalled', { rid: ctx.attrs.rid });
    },
  })
  .rule('move_request', {
    // kumo's own: move this cloud, with its subtree, to another host of the realm. The move runs
    // once this episode has committed (it waits for the cloud's mailbox to drain).
    select: 'wrangler:move_request',
    attrs: z.object({ to: z.string().min(1).max(64) }),
    action(ctx) {
      ctx.moveTo(ctx.attrs.to);
      ctx.directive('wrangler:move_started', { to: ctx.attrs.to });
    },
  })
  .rule('schedule_deletion_request', {
    select: 'wrangler:schedule_deletion_request',
    attrs: z.object({ id: z.string().min(1) }),
    action(ctx) {
      ctx.cancelSchedule(ctx.attrs.id);
      ctx.directive('wrangler:schedule_deleted', { id: ctx.attrs.id });
    },
  })
  .share('name', (ctx) => ctx.cloud.name)
  .share('myself', (ctx) => ({ id: ctx.cloud.id, name: ctx.cloud.name, parent: ctx.cloud.parent }))
  .share('children', (ctx) => ctx.children().map(({ name, eci, id }) => ({ name, eci, id })))
  .share('devices', (ctx) =>
    ctx.children().flatMap(({ name, eci, id }) => {
      const rec = ctx.ent.get(deviceEntity(id)) as DeviceRecord | undefined;
      return rec ? [{ name, eci, id, events: rec.events, rids: rec.rids, created: rec.created }] : [];
    }),
  )
  .share('channels', (ctx) => ctx.ecis().map(({ id, tags, eventPolicy, queryPolicy }) => ({ id, tags, eventPolicy, queryPolicy })))
  .share('installedRids', (ctx) => ctx.installed().map((r) => r.rid))
  .share('apps', (ctx) => ctx.installed().flatMap((r) => (r.app ? [{ rid: r.rid, ...r.app }] : [])))
  .share('registeredRulesets', (ctx) => ctx.registered())
  .share('schedules', (ctx) => ctx.schedules())
  .build();
