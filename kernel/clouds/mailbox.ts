import { MailboxFullError } from '../errors.ts';

/**
 * One cloud's mailbox: messages run one at a time, in arrival order, and the queue is bounded.
 * A message that throws rejects only its own promise; the loop goes on with the next.
 */
export class Mailbox {
  private readonly queue: Array<() => Promise<void>> = [];
  private running = false;

  constructor(
    private readonly owner: string,
    /** Messages that may wait before MAILBOX_FULL. */
    readonly limit: number,
  ) {}

  /** Would the next {@link post} be refused? */
  get full(): boolean {
    return this.queue.length >= this.limit;
  }

  /** Messages waiting or running. */
  get depth(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  get idle(): boolean {
    return !this.running && this.queue.length === 0;
  }

  /**
   * Run `task` after everything already in the mailbox. Rejects with MAILBOX_FULL when full, unless
   * `force` (work the host already accepted durably, such as its inbox after a restart).
   */
  post<T>(task: () => Promise<T>, force = false): Promise<T> {
    if (!force && this.full) return Promise.reject(new MailboxFullError(this.owner, this.limit));
    return new Promise<T>((resolve, reject) => {
      this.queue.push(() => task().then(resolve, reject));
      if (!this.running) void this.drain();
    });
  }

  /**
   * Resolves once everything already in the mailbox has run. Ignores the limit: the host uses it
   * to quiesce a cloud (before deleting it) even when its mailbox is full.
   */
  barrier(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.queue.push(() => Promise.resolve(resolve()));
      if (!this.running) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) await this.queue.shift()!();
    this.running = false;
  }
}
