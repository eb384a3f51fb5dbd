import type { CloudId } from '../ids.ts';
import { ranges } from './keys.ts';
import { erase, put, type Store, type WriteOp } from './store.ts';

/**
 * Give cloud `id` a new data key (docs/encryption.md, "Rotation"): every record of it, and every
 * pending event of it (sent or to apply), sealed again under the new key in one batch that also
 * erases the old key. Only that cloud's records are rewritten. The store must not be serving the
 * cloud meanwhile (`kumo keys rotate --cloud` runs on a stopped host). Returns how many records.
 */
export async function rotateCloudKey(store: Store, id: CloudId): Promise<number> {
  const records = await store.entries(ranges.cloud(id));
  const pending = [...(await store.entries(ranges.outbox())), ...(await store.entries(ranges.inbox()))].filter(([, v]) => v.cloudId === id);
  const ops: WriteOp[] = [erase(id)];
  for (const [k, v] of [...records, ...pending]) ops.push(put(k, v));
  await store.write(ops);
  return records.length + pending.length;
}
