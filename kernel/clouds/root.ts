import { systemEci } from '../capabilities/authority.ts';
import { builtinEcis, newCloudOps } from '../episodes/rule-effects.ts';
import { newPartition, type HostParts } from '../host-parts.ts';
import { newCloudId, newEci, type CloudId, type Eci } from '../ids.ts';
import { keys } from '../store/keys.ts';
import { put } from '../store/store.ts';

/** The host's root cloud and its owner ECI, created on first call (in one batch, with the record naming them). */
export async function rootCloud(p: HostParts, partitions: readonly number[]): Promise<{ cloudId: CloudId; eci: Eci; created: boolean }> {
  const rec = await p.store.get(keys.root());
  if (rec) return { ...rec, created: false };
  const partition = newPartition(p.ids, partitions);
  const cloudId = newCloudId(p.ids, partition);
  const eci = systemEci(newEci(p.ids, partition), 'owner');
  const meta = { id: cloudId, name: 'root', parent: null, created: p.clock.now(), ...builtinEcis(p.builtins, p.ids, partition) };
  await p.committer.commit([...newCloudOps(meta, eci, []), put(keys.root(), { cloudId, eci: eci.id })]);
  return { cloudId, eci: eci.id, created: true };
}
