import type { CloudId } from '../ids.ts';
import type { KumoEvent } from '../ruleset.ts';
import { KERNEL_DOMAIN } from '../validate.ts';

/**
 * Deleting clouds that live on another host (docs/realm.md): a child that moved away stays its
 * parent's child, so deleting the parent (or the child, through the parent) must reach it wherever
 * it is. The parent's episode deletes what is here and, in the same batch, puts a deletion in its
 * outbox for each cloud of the subtree that is elsewhere, addressed to the parent's ECI on it (full
 * authority over it). The outbox delivers it like any event, at least once, through the realm;
 * the host that has the cloud deletes it with its own subtree (and so on, for clouds further
 * away). It runs no rules: the event's domain is the kernel's, which no sender may use.
 */

/** The kernel's deletion of the cloud an ECI reaches. */
export const DELETE_CLOUD = { domain: KERNEL_DOMAIN, type: 'delete_cloud' } as const;

/** Is `event` the kernel's deletion of the cloud it reaches? */
export function isDeletion(event: Pick<KumoEvent, 'domain' | 'type'>): boolean {
  return event.domain === DELETE_CLOUD.domain && event.type === DELETE_CLOUD.type;
}

/** A cloud to delete with its subtree: its id, and the parent's ECI on it (to reach it on another host). */
export interface Doomed {
  id: CloudId;
  eci?: string;
}
