import type { Active, ActiveClouds } from '../clouds/activation.ts';
import type { Committer } from '../store/committer.ts';
import { MailboxFullError, StoreFailedError, UnknownCloudError } from '../errors.ts';
import type { EpisodeRunner, Outcome } from '../episodes/runner.ts';
import type { Idempotency } from './idempotency.ts';
import { keys, ranges, seqOf, type InboxEntry, type Key } from '../store/keys.ts';
import type { Accepted, RoutedEvent } from '../requests/request.ts';
import { del, put, type Store } from '../store/store.ts';

/**
 * The durable per-host inbox behind "accepted" (HTTP 202): an event is accepted only once it is
 * written to the store, and its episode deletes it in the episode's own batch, so an accepted event
 * is applied exactly once even if the host is killed in between (a restart runs what is left).
 * An event the host cannot take (full mailbox, unknown ECI, policy) is refused at once instead.
 * A retry of an event already applied under its idempotency key is answered with the first eid,
 * marked `replay`, and nothing is written.
 */
export class Inbox {
  private seq = 0;

  constructor(
    private readonly store: Store,
    private readonly committer: Committer,
    private readonly clouds: ActiveClouds,
    private readonly runner: EpisodeRunner,
    private readonly idempotency: Idempotency,
  ) {}

  /**
   * Accept an event for the active cloud `a` (its ECI and policy already checked): it takes a place
   * in the mailbox at once, in arrival order, and runs once its inbox entry is written. `accepted`
   * resolves when the entry is durable (or the event is a replay); `run` settles when the episode has.
   */
  accept(a: Active, routed: RoutedEvent): { accepted: Promise<Accepted>; run: Promise<Outcome | undefined> } {
    if (a.mailbox.full) throw new MailboxFullError(a.state.id, a.mailbox.limit);
    const key = keys.inbox(++this.seq);
    const { eci, event, idempotencyKey } = routed;
    const entry: InboxEntry = { cloudId: a.state.id, eci, event, ...(idempotencyKey !== undefined ? { idempotencyKey } : {}) };
    const write = (): Promise<Accepted> =>
      this.committer.commit([put(key, entry)]).then(
        () => ({ eid: event.eid }),
        (err: unknown) => {
          throw StoreFailedError.of(err);
        },
      );
    // A retry that races its first event is not seen here; the episode's own check in the mailbox stops it.
    const accepted = idempotencyKey === undefined ? write() : this.idempotency.peek(a.state.id, idempotencyKey, eci, event).then((r): Accepted | Promise<Accepted> => (r ? { eid: r.eid, replay: true } : write()));
    const run = a.mailbox.post(async () => {
      const answer = await accepted.catch(() => undefined);
      // Never accepted (the sender was told why), or answered as a replay: nothing to run.
      if (!answer || answer.replay) return undefined;
      return this.run(a, entry, key);
    });
    return { accepted, run };
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
    return this.runner.run(a, entry.event, { via: entry.eci, idempotencyKey: entry.idempotencyKey, always: (tx) => tx.stage([del(key)]), consumeOnRefusal: true });
  }
}
