/**
 * A bound on work under way, for one consumer that must stop pulling while its host is busy:
 * taking work that reaches the bound hands back a promise, which resolves once enough of it is done
 * to be under the bound again. (One taker: a second promise before the first resolved replaces it.)
 */
export class Budget {
  private used = 0;
  private waiting: (() => void) | null = null;

  constructor(readonly max: number) {}

  /** Count `n` more under way; a promise to wait for before taking more once that reaches the bound. */
  take(n: number): Promise<void> | undefined {
    this.used += n;
    if (this.used < this.max) return undefined;
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  /** One is done. */
  release(): void {
    this.used--;
    if (this.used >= this.max || !this.waiting) return;
    const resume = this.waiting;
    this.waiting = null;
    resume();
  }

  /** How many are under way. */
  get inUse(): number {
    return this.used;
  }
}
