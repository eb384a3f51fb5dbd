import { readFile, writeFile } from 'node:fs/promises';
import { ArgumentError, UsageError, type Command, type Context } from '../command.ts';
import { table } from '../format.ts';
import { passphraseOption } from './passphrase.ts';

/** Child clouds: make, list, delete, carry away in a file, bring in, move within the realm. */
export const cloudCommands: Command[] = [
  {
    name: 'cloud new',
    synopsis: 'NAME',
    summary: 'create a child cloud of the --eci cloud',
    args: 1,
    help: `Create a child cloud of the --eci cloud, with the built-in rulesets. Prints its id and the
parent's ECI on it (full authority over the child).`,
    async run(ctx, [name]) {
      const r = await ctx.wrangler('new_child_request', { name });
      const made = r.directives.find((d) => d.name === 'wrangler:new_child_created')?.options ?? {};
      ctx.print(made, `created cloud ${String(made['name'])} (id ${String(made['id'])})\neci ${String(made['eci'])}`);
    },
  },
  {
    name: 'cloud ls',
    summary: 'list its child clouds',
    args: 0,
    help: `List the child clouds of the --eci cloud: name, id and the parent's ECI on each (shown only to an
ECI with full authority).`,
    async run(ctx) {
      const kids = (await ctx.wranglerQuery('children')) as Array<{ name: string; id: string; eci: string }>;
      ctx.print(
        kids,
        kids.length === 0
          ? '(no child clouds)'
          : table(
              ['NAME', 'ID', 'ECI'],
              kids.map((k) => [k.name, k.id, k.eci]),
            ),
      );
    },
  },
  {
    name: 'cloud rm',
    synopsis: 'NAME | --id ID',
    summary: 'delete a child cloud (and its children)',
    args: [0, 1],
    help: `kumo cloud rm NAME
kumo cloud rm --id ID

Delete a child cloud of the --eci cloud, and its whole subtree: by its name, or by its id with
--id (a name is never matched against ids).`,
    async run(ctx, [name]) {
      // A name is matched only against names: `cloud rm X` never deletes a sibling whose id is X.
      if ((ctx.v.id === undefined) === (name === undefined)) throw new UsageError('give a NAME, or --id ID');
      const r = await ctx.wrangler('child_deletion_request', ctx.v.id !== undefined ? { id: ctx.v.id } : { name });
      const gone = r.directives.find((d) => d.name === 'wrangler:child_deleted')?.options ?? {};
      ctx.print(gone, `deleted cloud ${String(gone['name'])} (id ${String(gone['id'])})`);
    },
  },
  {
    name: 'cloud export',
    synopsis: 'NAME [--passphrase-file F] [--remove --moved-to URL] [--out FILE | > FILE]',
    summary: 'the child cloud NAME and its subtree as a cloud file (--remove: then it leaves this host)',
    args: 1,
    help: `Write the child cloud NAME of the --eci cloud, and its whole subtree, as a cloud file: every
record (state, ECIs, schedules, links, logs), readable by kumo cloud import on any host of any
provider. The file holds the clouds' ECIs, their capabilities: it is written readable by you alone
(mode 0600, also when stdout is redirected to a file), and without --passphrase-file kumo says that
it is not encrypted. With --passphrase-file, the file is encrypted (AES-256-GCM, key from the
passphrase by scrypt); its header (format, clouds, rulesets needed) stays readable. With --remove,
the clouds then leave this host: each of their ECIs is answered 410 CLOUD_MOVED with the URL given
to --moved-to (where you will import them), and their undelivered outgoing events travel in the file.

  --out FILE            write the file there (default: stdout)
  --passphrase-file F   encrypt with the passphrase on the first line of F
  --remove              delete the clouds here once written (needs --moved-to)
  --moved-to URL        the base URL of their new host, for senders to follow`,
    async run(ctx, [name]) {
      if (ctx.v.remove && !ctx.v['moved-to']) throw new UsageError("--remove needs --moved-to URL: the base URL of the cloud's new host, for senders to follow");
      const kid = await ctx.childEci(name!);
      const passphrase = await passphraseOption(ctx.v);
      const file = await ctx.client.exportCloud(kid, { ...(passphrase !== undefined ? { passphrase } : {}), ...(ctx.v.remove ? { leave: { movedTo: ctx.v['moved-to']! } } : {}) });
      await writePrivately(ctx, file);
      if (passphrase === undefined) ctx.io.err("kumo: the cloud file is not encrypted: it holds the clouds' ECIs in the clear; keep it private (--passphrase-file encrypts it)\n");
    },
  },
  {
    name: 'cloud move',
    synopsis: 'NAME --to HOST_ID',
    summary: 'move the child cloud NAME and its subtree to another host of the realm',
    args: 1,
    help: `Move the child cloud NAME of the --eci cloud, with its whole subtree, to host HOST_ID of the realm
(kumo realm lists the hosts). Its ECIs keep working through every host; no event is lost or
applied twice. A host alone has no other host to move to: export the cloud to a file instead.

  --to HOST_ID          the host to move it to`,
    async run(ctx, [name]) {
      if (!ctx.v.to) throw new UsageError('--to HOST_ID is needed (kumo realm lists the hosts)');
      const kid = await ctx.childEci(name!);
      const moved = (await ctx.client.moveCloud(kid, ctx.v.to)) as { to: string; clouds: number; records: number };
      ctx.print(moved, `moved cloud ${name} and ${moved.clouds - 1} descendants (${moved.records} records) to host ${moved.to}`);
    },
  },
  {
    name: 'cloud import',
    synopsis: 'FILE [--under PARENT_ECI] [--passphrase-file F]',
    summary: 'bring clouds in from a cloud file, under the --eci cloud (or PARENT_ECI)',
    args: 1,
    help: `Bring in the clouds of a cloud file as a child of the --eci cloud (or of the cloud behind
PARENT_ECI, which needs that cloud's full authority): ids, ECIs, state, schedules and links as they
were. Refused, with nothing written, when the file is not a kumo cloud file, is truncated or
corrupt, is of an unknown format version, cannot be decrypted (or is not encrypted, yet a
passphrase was given), needs rulesets this host does not have (they are listed), or would collide
with a cloud or ECI this host has.

  --under PARENT_ECI    the new parent (default: the --eci cloud)
  --passphrase-file F   the passphrase of an encrypted file`,
    async run(ctx, [path]) {
      const file = await readFile(path!).catch((err: NodeJS.ErrnoException) => {
        throw new ArgumentError(`cannot read ${path}: ${err.code ?? err.message}`);
      });
      const passphrase = await passphraseOption(ctx.v);
      const made = (await ctx.client.importCloud(ctx.v.under ?? (await ctx.eci()), file, passphrase)) as { name: string; id: string; eci: string; clouds: number; records: number };
      ctx.print(made, `imported cloud ${made.name} (id ${made.id}) with ${made.clouds - 1} descendants, ${made.records} records\neci ${made.eci}`);
    },
  },
];

/** Write a cloud file to --out (created readable by its owner alone), or to stdout (see main.ts). */
async function writePrivately(ctx: Context, file: Buffer): Promise<void> {
  if (ctx.v.out !== undefined) await writeFile(ctx.v.out, file, { mode: 0o600 });
  else (ctx.io.bytes ?? ((b: Buffer) => ctx.io.out(b.toString('latin1'))))(file);
}
