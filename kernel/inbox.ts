import type { Active, ActiveClouds } from './active-clouds.ts';
import type { Committer } from './committer.ts';
import { KumoError, MailboxFullError, StoreFailedError, UnknownCloudError } from './errors.ts';
import type { EpisodeRunner, Outcome } from './episode-runner.ts';
import { keys, ranges, seqOf, type InboxEntry, type Key } from './keys.ts';
import type { RoutedEvent } from './router.ts';
import { del, put, type Store } from './store.ts';

/**
 * The durable per-host inbox behind "accepted" (HTTP 202): an event is accepted only once it is
 * written to the store, and its episode deletes it in the episode's own batch, so an accepted event
 * is applied exactly once even if the host is killed in between (a restart runs what is left).
 * An event the host cannot take (full mailbox, unknown ECI, policy) is refused at once instead.
 */
export class Inbox {
  private seq = 0;

  constructor(
    private readonly store: Store,
    private readonly committer: Committer,
    private readonly clouds: ActiveClouds,
    private readonly runner: EpisodeRunner,
  ) {}

  /**
   * Accept an event for the active cloud `a` (its ECI and policy already checked): it takes a place
   * in the mailbox at once, in arrival order, and runs once its inbox entry is written. Resolves
   * when the entry is durable; `run` settles when the episode has.
   */
  accept(a: Active, routed: RoutedEvent): { written: Promise<void>; run: Promise<Outcome | undefined> } {
    if (a.mailbox.full) throw new MailboxFullError(a.state.id, a.mailbox.limit);
    const key = keys.inbox(++this.seq);
    const entry: InboxEntry = { cloudId: a.state.id, eci: routed.eci, event: routed.event };
    const written = this.committer.commit([put(key, entry)]).catch((err: unknown) => {
      throw err instanceof KumoError ? err : new StoreFailedError(err);
    });
    const run = a.mailbox.post(async () => {
      try {
        await written;
      } catch {
        return undefined; // never accepted: the sender was told
      }
      return this.run(a, entry, key);
    });
    return { written, run };
  }

  /** Run what a previous run of the host accepted and did not apply. Resolves once all of it is queued. */
  async resume(track: (p: Promise<unknown>) => void): Promise<void> {
    const rows = await this.store.entries(ranges.inbox());
    const last = rows[rows.length - 1];
    this.seq = last ? seqOf(last[0]) : 0;
    for (const [key, entry] of rows) {
      const queued = this.clouds.with(entry.cloudId, (a) => a.mailbox.post(() => this.run(a, entry, key), true));
      track(
        queued.catch(async (err: unknown) => {
          // The cloud was deleted before its accepted events ran: nothing left to apply them to.
          if (err instanceof UnknownCloudError) await this.committer.commit([del(key)]);
        }),
      );
    }
  }

  private run(a: Active, entry: InboxEntry, key: Key<InboxEntry>): Promise<Outcome> {
    return this.runner.run(a, entry.event, { via: entry.eci, always: (tx) => tx.stage([del(key)]), consumeOnRefusal: true });
  }
}
