/** Every bound a host enforces (docs/architecture.md, "Limits"). Each breach is a clear error, never a hang. */
export interface Limits {
  /** Messages waiting per cloud before MAILBOX_FULL. */
  mailbox: number;
  /** How deep raised events may nest in one episode. */
  raiseDepth: number;
  /** Events (initial plus raised) one episode may process. */
  eventsPerEpisode: number;
  /** Encoded size of one event's attrs, in bytes. */
  attrsBytes: number;
  /** Schedules one cloud may hold. */
  schedulesPerCloud: number;
  /** Entries kept in each cloud's episode log; 0 turns the log off (it costs about a third of event throughput). */
  logEntries: number;
  /** Active clouds held in memory before the least recently used idle ones are evicted. */
  activeClouds: number;
  /** An active cloud idle this long (ms) is evicted by the host's sweep. */
  idleMs: number;
  /** Longest a query may run (ms). */
  queryMs: number;
  /**
   * Applied eids remembered per cloud for at-most-once delivery: at least this many, and every eid
   * younger than `appliedMs` (a realm may redeliver an event minutes later), up to `appliedMax`.
   */
  appliedWindow: number;
  appliedMs: number;
  appliedMax: number;
  /** Children, ECIs and installed rulesets per cloud. */
  childrenPerCloud: number;
  ecisPerCloud: number;
  /** Undelivered outgoing events one host holds before `send` is refused with OUTBOX_FULL. */
  outbox: number;
  /** An outgoing event not delivered after this long (ms) becomes a dead letter. */
  outboxTtlMs: number;
  /**
   * In a realm, how long (ms) an outgoing event to an ECI that no host answers for is tried again
   * before it becomes a dead letter: a host's map of where clouds are can be a moment behind a move.
   */
  unknownEciGraceMs: number;
  /** Dead letters kept per cloud (the oldest are dropped). */
  deadLetters: number;
  /** Idempotency keys remembered per cloud (the oldest are dropped). */
  idempotencyKeys: number;
  /** How long (ms) an idempotency key is honoured: a later event with it is applied again. */
  idempotencyMs: number;
  /** How long (ms) a device's claim code is valid unless its owner says otherwise. */
  claimCodeMs: number;
  /** Failed claims per minute the host answers before refusing every claim with RATE_LIMITED. */
  claimFailuresPerMinute: number;
  /** How long a console sign-in code works (capabilities/sign-in.ts). */
  signinCodeMs: number;
  /** How long a console session lasts. */
  sessionMs: number;
  /** Console sessions a cloud may hold at once (the oldest goes first). */
  sessionsPerCloud: number;
  /** Size of an app's source (fetched or uploaded), in bytes. */
  appBytes: number;
  /** App engines (one per app version in use) a host runs; an app new to a host past it is refused. */
  appEngines: number;
}

export const DEFAULT_LIMITS: Limits = {
  mailbox: 1000,
  raiseDepth: 16,
  eventsPerEpisode: 256,
  attrsBytes: 256 * 1024,
  appBytes: 200 * 1024,
  appEngines: 256,
  schedulesPerCloud: 1000,
  logEntries: 100,
  activeClouds: 10_000,
  idleMs: 5 * 60_000,
  queryMs: 5_000,
  appliedWindow: 1000,
  appliedMs: 10 * 60_000,
  appliedMax: 100_000,
  childrenPerCloud: 10_000,
  ecisPerCloud: 1000,
  outbox: 100_000,
  unknownEciGraceMs: 60_000,
  outboxTtlMs: 24 * 3_600_000,
  deadLetters: 100,
  idempotencyKeys: 1000,
  idempotencyMs: 24 * 3_600_000,
  claimCodeMs: 24 * 3_600_000,
  claimFailuresPerMinute: 30,
  signinCodeMs: 10 * 60_000,
  sessionMs: 12 * 3_600_000,
  sessionsPerCloud: 50,
};
