import type { CloudId, Eci } from '../ids.ts';
import type { ChildInfo, ClaimCode, Directive, EciInfo, KumoEvent } from '../ruleset.ts';
import type { NewPasskey, OpenedSession } from '../capabilities/sign-in.ts';

export type { Directive };
import type { DeadLetter, EpisodeLogEntry, MoveIn, MoveOut, PasskeyRecord } from '../store/keys.ts';
import type { CloudBundle } from '../transfers/bundle.ts';

/**
 * What a host serves, as values (docs/architecture.md, "requests"): one union of the operations,
 * one answer type per operation. A host runs a request itself when it has the cloud (or the work is
 * its own), and hands it to its router otherwise; another host of the realm gets the same value over
 * the wire and runs it with `local`. A new operation is a member here and a row of the operations
 * table (operations.ts), and touches nothing outside the kernel.
 */

/** An event bound for an ECI: checked, with its eid and event time fixed. */
export interface RoutedEvent {
  eci: string;
  event: KumoEvent;
  /** The sender's idempotency key: applied at most once per key (delivery/idempotency.ts). */
  idempotencyKey?: string;
}

/** A query bound for an ECI. */
export interface RoutedQuery {
  eci: string;
  rid: string;
  name: string;
  args: Record<string, unknown>;
}

/** Why a receiving host refused an event for good; `location`: the forwarding address of a cloud that left for another provider. */
export interface Refusal {
  code: string;
  message: string;
  location?: string;
}

export type Request =
  /** An event; answered with its episode's directives. */
  | ({ op: 'event' } & RoutedEvent)
  /** An event taken into the durable inbox of its cloud's host (HTTP 202); it runs after. */
  | ({ op: 'accept' } & RoutedEvent)
  /** An event another host's outbox sent, applied at most once per eid. Only clouds of this host. */
  | ({ op: 'receive' } & RoutedEvent)
  /** An outbox entry of cloud `from` to deliver (see delivery/outbox.ts): `seq` is its place in the outbox. */
  | ({ op: 'deliver'; from: CloudId; seq: number; host?: string } & RoutedEvent)
  /** An event sent by a cloud of this host that the host of its ECI refused for good: a dead letter, or sent on. */
  | { op: 'bounce'; cloudId: string; eci: string; event: KumoEvent; reason: Refusal }
  | ({ op: 'query' } & RoutedQuery)
  /** A device's (normalized) claim code, for a cloud in `partition`. */
  | { op: 'claim'; code: string; partition: number }
  | { op: 'eciInfo'; eci: string }
  | { op: 'log'; eci: string; limit: number }
  | { op: 'deadLetters'; eci: string }
  /** The cloud behind `eci` and its subtree as a bundle; with `movedTo`, it then leaves this host for another provider. */
  | { op: 'export'; eci: string; movedTo?: string }
  /** Clouds of a bundle brought in as a child of the cloud behind `eci`. */
  | { op: 'import'; eci: string; bundle: unknown }
  /** Move the cloud behind `eci` and its subtree to host `to` of the realm (the realm runs it: see channels/realm/mover.ts). */
  | { op: 'move'; eci: string; to: string }
  /** These ECIs (of clouds brought in from elsewhere) live on this host now: the realm routes them here. */
  | { op: 'adopt'; ecis: string[] }
  // A move's steps, each run on one host (channels/realm/mover.ts sends them):
  /** The source: remember move `id`, hold and read the subtree of the cloud behind `eci` (an ECI with its full authority). */
  | { op: 'moveOut'; id: string; eci: string; to: string }
  /** The source, the move committed: the subtree's records leave. */
  | { op: 'moveLeave'; id: string }
  /** The source, the move aborted: the subtree serves here again. */
  | { op: 'moveStay'; id: string }
  /** The target: land the bundle from host `from`, held until the move is decided. */
  | { op: 'moveLand'; id: string; from: string; bundle: unknown }
  /** The target, the move committed: serve what landed. */
  | { op: 'moveLive'; id: string }
  /** The target, the move aborted: drop what landed. */
  | { op: 'moveDrop'; id: string }
  /** The moves this host is in the middle of (after a restart), their clouds held again. */
  | { op: 'moves' }
  /** This host is stopping with moves left undecided: work waiting for clouds on hold is refused SHUTTING_DOWN now (the holds stay, the moves finish at its next start). */
  | { op: 'moveHalt' }
  // The console's sign-in (capabilities/sign-in.ts); `partition`: of the cloud, where a realm routes it.
  /** A one-time sign-in code for the cloud behind `eci`, carrying that ECI's authority. */
  | { op: 'signinCode'; eci: string }
  /** Open a session: with a sign-in code, or with a passkey whose signature the console checked (`counter`: the one it signed with). */
  | { op: 'signin'; partition: number; label: string; code?: string; passkey?: { cloudId: string; credId: string; counter: number } }
  /** The registered passkey `credId` of cloud `cloudId`, to check a signature with. */
  | { op: 'passkey'; partition: number; cloudId: string; credId: string }
  /** Something a session (by its `token`) or an ECI does about the sign-ins of its cloud. */
  | ({ op: 'access'; action: AccessAction } & ({ token: string; partition: number } | { eci: string }));

/** What {@link Request} `access` does. */
export type AccessAction = { do: 'check' } | { do: 'list' } | { do: 'revoke'; sid: string } | { do: 'addPasskey'; passkey: NewPasskey } | { do: 'removePasskey'; credId: string };

export type Op = Request['op'];

/** A request of one operation. */
export type RequestOf<K extends Op> = Extract<Request, { op: K }>;

/** What an event's episode answers its sender. */
export interface EventResult {
  eid: string;
  directives: Directive[];
  /** Set when this is the recorded answer of an earlier event with the same idempotency key: nothing was applied again. */
  replay?: true;
}

/** What accepting an event answers: its eid, or the first eid of its idempotency key. */
export interface Accepted {
  eid: string;
  replay?: true;
}

/** An ECI and the cloud it reaches (for channels that attach to it). */
export interface RemoteEci extends EciInfo {
  cloudId: CloudId;
}

/** What a move did. */
export interface MoveResult {
  id: string;
  to: string;
  clouds: number;
  records: number;
}

/** What each operation answers. */
export interface Answers {
  event: EventResult;
  accept: Accepted;
  receive: EventResult & { duplicate: boolean };
  deliver: void;
  bounce: void;
  query: unknown;
  claim: { eci: Eci };
  eciInfo: RemoteEci;
  log: EpisodeLogEntry[];
  deadLetters: DeadLetter[];
  export: CloudBundle;
  import: ChildInfo;
  move: MoveResult;
  adopt: void;
  moveOut: CloudBundle;
  moveLeave: void;
  moveStay: void;
  moveLand: void;
  moveLive: void;
  moveDrop: void;
  moveHalt: void;
  moves: { out: MoveOut[]; in: MoveIn[] };
  signinCode: ClaimCode;
  signin: OpenedSession;
  passkey: PasskeyRecord;
  access: unknown;
}

export type Answer<K extends Op> = Answers[K];

/** A message a rule pushed to the listeners of an ECI. */
export interface PushMessage {
  cloudId: string;
  eci: string;
  name: string;
  data: Record<string, unknown>;
}
