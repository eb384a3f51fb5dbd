import { readFile } from 'node:fs/promises';
import { ArgumentError, jsonOption, UsageError, type Command, type Context } from '../command.ts';
import { HostError } from '../client.ts';
import { table } from '../format.ts';

type RulesetRow = { rid: string; version: string; name?: string };
type InstalledRow = { rid: string; app?: { version: string; hash: string; url?: string; grant: Record<string, unknown> } };

const fail = (message: string): never => {
  throw new ArgumentError(message);
};

/** "; may send, children, hold 100000 bytes" for a grant, "" for none. */
function grantText(grant: Record<string, unknown>): string {
  const parts = Object.entries(grant).map(([k, v]) => (k === 'storage' ? `hold ${String(v)} bytes` : k));
  return parts.length > 0 ? `; may ${parts.join(', ')}` : '';
}

/**
 * Install; an app that needs consent is shown with what it asks, and installed again with consent
 * when --yes gives it or the person at the terminal says yes.
 */
async function installWithConsent(ctx: Context, attrs: Record<string, unknown>): ReturnType<Context['wrangler']> {
  try {
    return await ctx.wrangler('install_ruleset_request', { ...attrs, ...(ctx.v.yes ? { consent: true } : {}) });
  } catch (err) {
    if (!(err instanceof HostError) || err.code !== 'CONSENT_REQUIRED') throw err;
    const { rid, asks } = (err.body as { error?: { rid?: string; asks?: Record<string, unknown> } } | null)?.error ?? {};
    const question = `app ${rid ?? ''} asks to ${grantText(asks ?? {}).replace(/^; may /, '')}; grant it?`;
    if (!ctx.io.ask) throw new ArgumentError(`${question.replace(/; grant it\?$/, '')}: run again with --yes to grant it`);
    if (!(await ctx.io.ask(question))) throw new ArgumentError('not installed: consent not given');
    return ctx.wrangler('install_ruleset_request', { ...attrs, consent: true });
  }
}

/** Rulesets: what the host has registered, what a cloud has installed, installing and uninstalling. */
export const rulesetCommands: Command[] = [
  {
    name: 'install',
    synopsis: 'RID | --from URL | --file PATH [--config JSON] [--yes]',
    args: [0, 1],
    help: `Install a ruleset registered on the host (see kumo rulesets) into the --eci cloud, with its config;
or an app (docs/apps.md): --from URL has the host fetch it, --file PATH uploads a file of yours. Installing
the app of an installed rid again updates it. An app asking for more than its own state shows what it asks
and needs your consent: the CLI asks, or --yes gives it.`,
    async run(ctx, [rid]) {
      const { from, file } = ctx.v;
      if ([rid, from, file].filter((x) => x !== undefined).length !== 1) throw new UsageError('give a RID, --from URL or --file PATH (one of them)');
      const attrs: Record<string, unknown> = {
        ...(rid !== undefined ? { rid } : from !== undefined ? { url: from } : { source: await readFile(file!, 'utf8').catch((err: Error) => fail(`cannot read ${file}: ${err.message}`)) }),
        ...(ctx.v.config !== undefined ? { config: jsonOption('--config', ctx.v.config) } : {}),
      };
      const r = await installWithConsent(ctx, attrs);
      const installed = r.directives.find((d) => d.name === 'wrangler:ruleset_installed')?.options as InstalledRow | undefined;
      ctx.print(r, installed?.app ? `installed app ${installed.rid} ${installed.app.version} (${installed.app.hash.slice(0, 12)})${grantText(installed.app.grant)}` : `installed ${rid}`);
    },
  },
  {
    name: 'apps',
    summary: 'the apps installed in the cloud, where from, and what they may do',
    args: 0,
    help: 'List the apps installed in the --eci cloud: rid, version, where it came from, the permissions granted.',
    async run(ctx) {
      const apps = (await ctx.wranglerQuery('apps')) as Array<InstalledRow['app'] & { rid: string }>;
      ctx.print(
        apps,
        table(
          ['RID', 'VERSION', 'FROM', 'GRANTED'],
          apps.map((a) => [a.rid, a.version, a.url ?? '(uploaded)', grantText(a.grant).replace(/^; may /, '') || '-']),
        ),
      );
    },
  },
  {
    name: 'revoke',
    synopsis: 'RID PERMISSION',
    args: 2,
    help: 'Take back a permission (send, channels, children, manage, storage) granted to the app RID in the --eci cloud.',
    async run(ctx, [rid, permission]) {
      const r = await ctx.wrangler('app_revoke_request', { rid, permission });
      ctx.print(r, `revoked ${permission} from ${rid}`);
    },
  },
  {
    name: 'uninstall',
    synopsis: 'RID',
    args: 1,
    help: 'Uninstall a ruleset from the --eci cloud; its state is deleted.',
    async run(ctx, [rid]) {
      const r = await ctx.wrangler('uninstall_ruleset_request', { rid });
      ctx.print(r, `uninstalled ${rid}`);
    },
  },
  {
    name: 'rulesets',
    summary: 'the rulesets registered on the host',
    args: 0,
    help: 'List the rulesets registered on the host (those kumo install can install): rid, version, name.',
    async run(ctx) {
      const registered = (await ctx.wranglerQuery('registeredRulesets')) as RulesetRow[];
      ctx.print(
        registered,
        table(
          ['RID', 'VERSION', 'NAME'],
          registered.map((r) => [r.rid, r.version, r.name ?? '']),
        ),
      );
    },
  },
  {
    name: 'installed',
    summary: 'the rulesets installed in the cloud',
    args: 0,
    help: 'List the rulesets installed in the --eci cloud, in the order they run.',
    async run(ctx) {
      const [rids, registered] = (await Promise.all([ctx.wranglerQuery('installedRids'), ctx.wranglerQuery('registeredRulesets')])) as [string[], RulesetRow[]];
      const rows: RulesetRow[] = rids.map((rid) => registered.find((r) => r.rid === rid) ?? { rid, version: '(not registered on this host)' });
      ctx.print(
        rows,
        table(
          ['RID', 'VERSION', 'NAME'],
          rows.map((r) => [r.rid, r.version, r.name ?? '']),
        ),
      );
    },
  },
];
