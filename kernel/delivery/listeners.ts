/** Listeners by key (an ECI, a cloud id). A listener that throws does not stop the others. */
export class Listeners<T> {
  private readonly map = new Map<string, Set<(m: T) => void>>();

  /** Add a listener; returns the function that removes it. */
  add(key: string, fn: (m: T) => void): () => void {
    let set = this.map.get(key);
    if (!set) {
      set = new Set();
      this.map.set(key, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0 && this.map.get(key) === set) this.map.delete(key);
    };
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Listeners on `key`. */
  count(key: string): number {
    return this.map.get(key)?.size ?? 0;
  }

  notify(key: string, message: T): void {
    for (const fn of this.map.get(key) ?? []) {
      try {
        fn(message);
      } catch {
        // A listener's failure is its own; what it hears about has already committed.
      }
    }
  }
}
