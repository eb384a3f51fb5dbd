import diagnostics_channel from 'node:diagnostics_channel';

/**
 * Typed observability events on `node:diagnostics_channel` (channel names `kumo:<kind>`).
 * Subscribers (metrics, logs, tests) attach with `diagnostics_channel.subscribe('kumo:episode', fn)`
 * or {@link subscribe}; publishing costs almost nothing when nobody listens. Every message names
 * the host that published it (`host`), so two hosts in one process never mix.
 */
export interface ObservedEvents {
  /** An event's episode finished (committed or failed). */
  episode: { cloudId: string; eid: string; domain: string; type: string; fired: number; ms: number; error?: string };
  /** A query ran. */
  query: { cloudId: string; rid: string; name: string; ms: number; error?: string };
  /** An event, query or device claim was refused before any episode or function ran (unknown ECI, policy, full mailbox, bad input, wrong claim code, …). */
  refusal: { kind: 'event' | 'query' | 'claim'; code: string };
  /** A store batch was written by group commit. */
  commit: { episodes: number; ops: number; ms: number };
  /** A cloud was loaded from the store. */
  activate: { cloudId: string; ms: number };
  /** A cloud was dropped from memory. */
  evict: { cloudId: string; reason: 'idle' | 'pressure' | 'deleted' };
  /** A scheduled event came due and was sent. */
  schedule: { cloudId: string; id: string; at: number };
  /** An outgoing event could not be delivered this time and will be tried again. */
  retry: { cloudId: string; eid: string; code: string; attempts: number };
  /** A move of a cloud to another host asked by a rule finished (`error`: it failed and was undone). */
  move: { eci: string; to: string; error?: string };
  /** An outgoing event became a dead letter. */
  deadLetter: { cloudId: string; eid: string; code: string };
  /** The realm showed a newer claim on what this host serves: it stopped serving. */
  fenced: { reason: string };
}

export type ObservedKind = keyof ObservedEvents;

/** A published message: the event's fields and the id of the host that published it. */
export type Observed<K extends ObservedKind> = ObservedEvents[K] & { host: string };

/** A publish function bound to one host. */
export type Publish = <K extends ObservedKind>(kind: K, message: ObservedEvents[K]) => void;

const channels = new Map<string, diagnostics_channel.Channel>();

function channel(kind: ObservedKind): diagnostics_channel.Channel {
  let ch = channels.get(kind);
  if (!ch) {
    ch = diagnostics_channel.channel(`kumo:${kind}`);
    channels.set(kind, ch);
  }
  return ch;
}

/** The publish function of one host: every message it publishes carries `host`. */
export function publisher(host: string): Publish {
  return (kind, message) => {
    const ch = channel(kind);
    if (ch.hasSubscribers) ch.publish({ ...message, host });
  };
}

/** Subscribe to one kind (from every host in the process); returns the function that unsubscribes. */
export function subscribe<K extends ObservedKind>(kind: K, fn: (message: Observed<K>) => void): () => void {
  const listener = (m: unknown) => fn(m as Observed<K>);
  diagnostics_channel.subscribe(`kumo:${kind}`, listener);
  return () => diagnostics_channel.unsubscribe(`kumo:${kind}`, listener);
}
