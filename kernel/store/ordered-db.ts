/** The LevelDB-like database under a store (store.ts, sealing.ts). */

export type Bound = { gte: string; lt: string; limit: number; reverse?: boolean };

/** The part of abstract-level this store uses (so `level` and `memory-level` both fit). */
export interface OrderedDb {
  getSync(key: string): Uint8Array | undefined;
  iterator(range: Bound): { all(): Promise<Array<[string, Uint8Array]>> };
  keys(range: Bound): { all(): Promise<string[]> };
  /** A chained batch: written atomically by `write`, or dropped by `close`. */
  batch(): OrderedBatch;
  /** Compact the keys in [start, end); LevelDB writes its memtable to a table first, whatever the range. */
  compactRange?(start: string, end: string): Promise<void>;
  close(): Promise<void>;
}

export interface OrderedBatch {
  put(key: string, value: Uint8Array): unknown;
  del(key: string): unknown;
  write(opts: { sync: boolean }): Promise<void>;
  close(): Promise<void>;
}
