import { isCloudId, rotateCloudKey, type HostKeySource } from '../../../kernel/index.ts';
import { openDataDir, rotateDataDirKey, upgradeDataDir } from '../../data-dir.ts';
import { parseKey, type HostKeyOptions } from '../../host-key.ts';
import { UsageError, type Command, type Context } from '../command.ts';

const keys = (ctx: Context): HostKeyOptions => ({ env: ctx.io.env, ...(ctx.v['key-file'] ? { keyFile: ctx.v['key-file'] } : {}) });

/** The new host key of a rotation, when the key is given in the environment. */
function nextKey(env: Record<string, string | undefined>): HostKeySource | undefined {
  if (env['KUMO_NEW_HOST_KEY']) return { key: parseKey(env['KUMO_NEW_HOST_KEY'], 'KUMO_NEW_HOST_KEY') };
  if (env['KUMO_NEW_HOST_PASSPHRASE']) return { passphrase: env['KUMO_NEW_HOST_PASSPHRASE'] };
  return undefined;
}

/** The keys of a stopped host's sealed store (docs/encryption.md). */
export const keyCommands: Command[] = [
  {
    name: 'keys rotate',
    synopsis: '[--data DIR] [--key-file FILE] [--cloud ID]',
    summary: "a new host key (or a cloud's new data key), on a stopped host",
    args: 0,
    remote: false,
    help: `On a stopped host, seal the keyring of the data directory under a new host key; no record is
rewritten. With a key file, a new key is made and replaces it (a copy of the old file opens nothing
after this: keep a copy of the new one). With KUMO_HOST_KEY or KUMO_HOST_PASSPHRASE, the new key is
KUMO_NEW_HOST_KEY or KUMO_NEW_HOST_PASSPHRASE. Interrupted, the store opens with whichever key it
holds, and the command can run again.

  --cloud ID            instead: give that cloud a new data key, its records sealed again under it
                        (only its own) and the old key erased`,
    async run(ctx) {
      const opts = keys(ctx);
      const cloud = ctx.v.cloud;
      if (cloud !== undefined) {
        if (!isCloudId(cloud)) throw new UsageError(`--cloud: ${JSON.stringify(cloud)} is not a cloud id`);
        const store = await openDataDir(ctx.dataDir, { keys: opts });
        try {
          const n = await rotateCloudKey(store, cloud);
          ctx.print({ cloud, records: n }, `cloud ${cloud} has a new data key: ${n} records sealed again, the old key erased`);
        } finally {
          await store.close();
        }
        return;
      }
      const next = nextKey(ctx.io.env);
      const r = await rotateDataDirKey(ctx.dataDir, { ...opts, ...(next ? { next } : {}) });
      ctx.print(r, `the keyring of ${ctx.dataDir} is sealed by host key ${r.keyId}${r.keyFile ? `, now in ${r.keyFile}: keep a copy of it` : ''}`);
    },
  },
  {
    name: 'upgrade',
    synopsis: '[--data DIR] [--key-file FILE]',
    summary: 'seal a data directory made before kumo sealed its stores',
    args: 0,
    remote: false,
    help: `On a stopped host, seal in place every record of a data directory made before kumo sealed its
stores (docs/encryption.md), and move its owner ECI file out of it (to <data>.eci). The host key is
made (or taken from the environment) as at a first start. Interrupted, run it again: it carries on.`,
    async run(ctx) {
      const n = await upgradeDataDir(ctx.dataDir, { keys: keys(ctx) });
      ctx.print({ sealed: n }, n === 0 ? `${ctx.dataDir} is sealed already` : `${ctx.dataDir}: ${n} records sealed`);
    },
  },
];
