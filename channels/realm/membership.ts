import { keys, ranges, type Membership, type Store } from '../../kernel/index.ts';
import { StartError } from '../start-error.ts';

/**
 * A data directory is bound to one realm, as one host, at its first join (docs/realm.md, "one
 * cloud, one copy"): its clouds are that host's, the realm routes their ECIs there, and its outbox
 * holds events for ECIs of that realm. Started as another host, in another realm or alone, it
 * would serve clouds the realm routes elsewhere and send those events nowhere; so it is refused.
 */

/** This data directory's membership, if it joined a realm (made from what older kumo kept, once). */
export async function readMembership(store: Store): Promise<(Omit<Membership, 'token'> & { token?: string }) | undefined> {
  const m = await store.get(keys.membership());
  if (m) return m;
  const legacy = await store.entries(ranges.realmPartitions());
  if (legacy.length !== 1) return undefined;
  const [key, partitions] = legacy[0]!;
  const [realm, hostId] = key.slice('h!realm!'.length).split('!');
  return realm && hostId ? { realm, hostId, partitions } : undefined;
}

/**
 * Refuse to start a data directory bound to a realm as anything else: another `--host-id`, another
 * `--realm`, or alone (no `--nats`).
 */
export function checkMembership(m: { realm: string; hostId: string } | undefined, asked: { realm: string | undefined; hostId: string | undefined }): void {
  if (!m) return;
  const as = `start it with --nats … --realm ${m.realm} --host-id ${m.hostId}, or give this host another --data`;
  if (asked.realm === undefined) throw new StartError('DATA_DIR_IN_REALM', `this data directory is host ${m.hostId} of realm ${m.realm}, and cannot run alone (its clouds are routed to it by the realm): ${as}`);
  if (asked.realm !== m.realm) throw new StartError('DATA_DIR_IN_REALM', `this data directory is host ${m.hostId} of realm ${m.realm}, not of realm ${asked.realm}: ${as}`);
  if (asked.hostId !== undefined && asked.hostId !== m.hostId) throw new StartError('DATA_DIR_IN_REALM', `this data directory is host ${m.hostId} of realm ${m.realm}, not host ${asked.hostId}: ${as}`);
}
