import diagnostics_channel from 'node:diagnostics_channel';

/**
 * Typed observability events on `node:diagnostics_channel` (channel names `kumo:<kind>`).
 * Subscribers (metrics, logs, tests) attach with `diagnostics_channel.subscribe('kumo:episode', fn)`
 * or {@link subscribe}; publishing costs almost nothing when nobody listens.
 */
export interface ObservedEvents {
  /** An event's episode finished (committed or failed). */
  episode: { cloudId: string; eid: string; domain: string; type: string; fired: number; ms: number; error?: string };
  /** A query ran. */
  query: { cloudId: string; rid: string; name: string; ms: number; error?: string };
  /** A store batch was written by group commit. */
  commit: { episodes: number; ops: number; ms: number };
  /** A cloud was loaded from the store. */
  activate: { cloudId: string; ms: number };
  /** A cloud was dropped from memory. */
  evict: { cloudId: string; reason: 'idle' | 'pressure' | 'deleted' };
  /** A scheduled event came due and was sent. */
  schedule: { cloudId: string; id: string; at: number };
}

export type ObservedKind = keyof ObservedEvents;

const channels = new Map<string, diagnostics_channel.Channel>();

function channel(kind: ObservedKind): diagnostics_channel.Channel {
  let ch = channels.get(kind);
  if (!ch) {
    ch = diagnostics_channel.channel(`kumo:${kind}`);
    channels.set(kind, ch);
  }
  return ch;
}

/** Publish one observability event. */
export function publish<K extends ObservedKind>(kind: K, message: ObservedEvents[K]): void {
  const ch = channel(kind);
  if (ch.hasSubscribers) ch.publish(message);
}

/** Subscribe to one kind; returns the function that unsubscribes. */
export function subscribe<K extends ObservedKind>(kind: K, fn: (message: ObservedEvents[K]) => void): () => void {
  const listener = (m: unknown) => fn(m as ObservedEvents[K]);
  diagnostics_channel.subscribe(`kumo:${kind}`, listener);
  return () => diagnostics_channel.unsubscribe(`kumo:${kind}`, listener);
}
