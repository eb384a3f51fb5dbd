import { InvalidArgsError, UnknownClaimCodeError, UnknownEciError } from '../errors.ts';
import type { EciInfo, KumoEvent } from '../ruleset.ts';
import type { Directive } from '../episodes/episode.ts';
import type { DeadLetter, EpisodeLogEntry } from '../store/keys.ts';
import type { CloudId } from '../ids.ts';
import type { PushMessage } from '../episodes/rule-effects.ts';
import type { Accepted } from '../delivery/inbox.ts';
import type { Eci } from '../ids.ts';

/** An event bound for an ECI: validated, with its eid and event time fixed. */
export interface RoutedEvent {
  eci: string;
  event: KumoEvent;
  /** The sender's idempotency key: the event is applied at most once per key (kernel/idempotency.ts). */
  idempotencyKey?: string;
}

/** What an event's episode answers its sender. */
export interface EventResult {
  eid: string;
  directives: Directive[];
  /** Set when this is the recorded answer of an earlier event with the same idempotency key: nothing was applied again. */
  replay?: true;
}

/** A query bound for an ECI. */
export interface RoutedQuery {
  eci: string;
  rid: string;
  name: string;
  args: Record<string, unknown>;
}

/** Where an ECI lives when it is not this host's, and what it can do there (for channels). */
export interface RemoteEci extends EciInfo {
  cloudId: CloudId;
}

/**
 * The kernel's one seam to other hosts (DESIGN §7). A host asks its router only about ECIs that
 * are not in its own index; the router finds the host that has the ECI and hands the work there.
 * Every method rejects with UNKNOWN_ECI when no host has the ECI, and with a KumoError of its own
 * code when the other host cannot be reached (never a hang).
 *
 * The kernel never imports a transport: a realm (NATS) implements this in `channels/`.
 */
export interface Router {
  /** Run an event's episode where its ECI lives and wait for the directives. */
  event(routed: RoutedEvent): Promise<EventResult>;
  /**
   * Hand an event to its ECI's host durably (HTTP 202): resolves once that host has stored it, or
   * with the first eid, marked `replay`, when its idempotency key was applied there already.
   */
  accept(routed: RoutedEvent): Promise<Accepted>;
  /**
   * Claim a device's ECI with a (normalized) claim code whose partition another host owns: that
   * host, which holds the device cloud, runs the claim and spends its own budget for failed ones.
   */
  claim(code: string, partition: number): Promise<{ eci: Eci }>;
  /** Run a query where its ECI lives. */
  query(query: RoutedQuery): Promise<unknown>;
  /**
   * Hand an outgoing event of cloud `from` to its ECI's host: resolves once it is stored durably on
   * the way there (the sender's outbox entry is then deleted). Applied at most once per eid at the
   * other end; if that host refuses it for good, it comes back to this host as a dead letter
   * ({@link Host.bounce}).
   */
  deliver(routed: RoutedEvent, from: CloudId): Promise<void>;
  /** Describe an ECI of another host (tags and policies), for channels that attach to it. */
  eciInfo(eci: string): Promise<RemoteEci>;
  /** The newest entries of the episode log of the cloud behind an ECI of another host. */
  episodeLog(eci: string, limit: number): Promise<EpisodeLogEntry[]>;
  /** The dead letters of the cloud behind an ECI of another host. */
  deadLetters(eci: string): Promise<DeadLetter[]>;
  /** Follow the episode log of the cloud behind an ECI of another host. Resolves to the function that stops. */
  follow(eci: string, fn: (entry: EpisodeLogEntry) => void): Promise<() => void>;
  /** Hear what rules on other hosts push to `eci`. Returns the function that stops. */
  listen(eci: string, fn: (m: PushMessage) => void): () => void;
  /** Offer a push made on this host to listeners on other hosts. */
  publishPush(m: PushMessage): void;
  /** These ECIs (of clouds just brought in from elsewhere) now live on this host: route them here. */
  adopt(ecis: string[]): Promise<void>;
  /** Move the cloud behind `eci` (an ECI with its full authority) and its subtree to host `to` of the realm. */
  move(eci: string, to: string): Promise<unknown>;
}

/** The router of a host alone: every ECI it does not have is unknown. */
export const aloneRouter: Router = {
  event: (r) => Promise.reject(new UnknownEciError(r.eci)),
  accept: (r) => Promise.reject(new UnknownEciError(r.eci)),
  query: (q) => Promise.reject(new UnknownEciError(q.eci)),
  claim: () => Promise.reject(new UnknownClaimCodeError()),
  deliver: (r) => Promise.reject(new UnknownEciError(r.eci)),
  eciInfo: (eci) => Promise.reject(new UnknownEciError(eci)),
  episodeLog: (eci) => Promise.reject(new UnknownEciError(eci)),
  deadLetters: (eci) => Promise.reject(new UnknownEciError(eci)),
  follow: (eci) => Promise.reject(new UnknownEciError(eci)),
  listen: () => () => undefined,
  publishPush: () => undefined,
  adopt: () => Promise.resolve(),
  move: () => Promise.reject(new InvalidArgsError('this host is not in a realm: there is no other host to move a cloud to (export it to a file instead)')),
};
