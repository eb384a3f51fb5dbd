/** The kernel's public entry: what channels and rulesets may use. */
export { Host, type Moves, type HostOptions, type EventInput, type EventResult, type QueryInput, type LocalOnly } from './host.ts';
export type { Directive, EpisodeLogEntry } from './episode.ts';
export type { PushMessage } from './cloud-ops.ts';
export { SYSTEM_TAG, within, isFull, attenuate, type Authority } from './authority.ts';
export type {
  Ruleset,
  Rule,
  Selector,
  SelectorResult,
  KumoEvent,
  RuleContext,
  QueryContext,
  ReadContext,
  SharedFunction,
  Validation,
  EciInfo,
  DeclaredEci,
  ChildInfo,
  ClaimCode,
  DeviceInfo,
  ChildSelector,
  RegisteredRuleset,
  ScheduleInfo,
} from './ruleset.ts';
export type { Accepted } from './inbox.ts';
export { normalizeClaimCode, formatClaimCode, claimCodePartition } from './claim-codes.ts';
export * from './errors.ts';
export { type Router, type RoutedEvent, type RoutedQuery, type RemoteEci, aloneRouter } from './router.ts';
export { type Remote, noRemote } from './remote.ts';
export { type Store, type WriteOp, type OrderedDb, type RangeQuery, LevelStore, openLevelStore, put, del } from './store.ts';
export { type Clock, type Timer, systemClock, ManualClock } from './clock.ts';
export { type IdGenerator, type Eci, type CloudId, cryptoIds, seededIds, isEci, isCloudId, partitionOf, PARTITIONS } from './ids.ts';
export { type Limits, DEFAULT_LIMITS } from './limits.ts';
export { type EventPolicy, type QueryPolicy, parseEventPolicy, parseQueryPolicy, eventAllowed, queryAllowed, intersectEventPolicies, intersectQueryPolicies, eventPolicyWithin, queryPolicyWithin } from './policy.ts';
export { subscribe, type ObservedEvents, type ObservedKind, type Observed } from './observe.ts';
export { isPlainObject, checkEventName, checkEid, checkAttrs, checkArgs, checkIdempotencyKey, describe } from './validate.ts';
export type { Refusal } from './outbox.ts';
export { keys, ranges, parseCloudKey, eciOfIndexKey, type Key, type Range, type CloudRecord, type DeadLetter, type OutboxEntry, type InboxEntry, type IdempotencyRecord, type ClaimRecord, type Membership } from './keys.ts';
export { cloudRecords } from './cloud.ts';
export { encode, decode } from './codec.ts';
export { type CloudBundle, bundleRulesets, bundleEcis, checkBundle } from './cloud-transfer.ts';
export type { Seized } from './transfers.ts';
export type { MoveIn, MoveOut } from './keys.ts';
