/** The kernel's public entry: what channels and rulesets may use. */
export { Host, type HostOptions, type EventInput, type QueryInput, type LocalOnly } from './host.ts';
export { SYSTEM_TAG, within, isFull, attenuate, type Authority } from './capabilities/authority.ts';
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
  AppPermissions,
  InstalledInfo,
  HttpRequest,
  HttpResponse,
} from './ruleset.ts';
export { type AppEngine, appHash } from './apps/apps.ts';
export { parsePermissions, DEFAULT_STORAGE, MAX_STORAGE } from './apps/grants.ts';
export { normalizeClaimCode, formatClaimCode, claimCodePartition } from './capabilities/claim-codes.ts';
export { sessionPartition, type Session, type OpenedSession, type AccessView, type NewPasskey } from './capabilities/sign-in.ts';
export * from './errors.ts';
export type { Request, RequestOf, Op, Answer, Answers, RoutedEvent, RoutedQuery, RemoteEci, Accepted, EventResult, Directive, PushMessage, Refusal, MoveResult, AccessAction } from './requests/request.ts';
export { type Router, aloneRouter } from './requests/router.ts';
export { type Remote, noRemote } from './delivery/remote.ts';
export { type Store, type WriteOp, type OrderedDb, type RangeQuery, LevelStore, openLevelStore, put, del, erase } from './store/store.ts';
export { Keyring, writeAtomically, type HostKeySource } from './store/keyring.ts';
export { seal as sealBytes, open as openSealed } from './store/aead.ts';
export { rotateCloudKey } from './store/rekey.ts';
export { type Clock, type Timer, systemClock, ManualClock } from './clock.ts';
export { type IdGenerator, type Eci, type CloudId, cryptoIds, seededIds, isEci, isCloudId, partitionOf, PARTITIONS } from './ids.ts';
export { type Limits, DEFAULT_LIMITS } from './limits.ts';
export { type EventPolicy, type QueryPolicy, parseEventPolicy, parseQueryPolicy, eventAllowed, queryAllowed, intersectEventPolicies, intersectQueryPolicies, eventPolicyWithin, queryPolicyWithin } from './capabilities/policy.ts';
export { subscribe, type ObservedEvents, type ObservedKind, type Observed } from './observe.ts';
export { isPlainObject, isList, isStrings, checkEventName, checkEid, checkAttrs, checkArgs, checkIdempotencyKey, describe } from './validate.ts';
export {
  keys,
  ranges,
  parseCloudKey,
  eciOfIndexKey,
  type Key,
  type Range,
  type CloudRecord,
  type DeadLetter,
  type OutboxEntry,
  type InboxEntry,
  type IdempotencyRecord,
  type ClaimRecord,
  type PasskeyRecord,
  type Membership,
  type AppRecord,
  type EpisodeLogEntry,
} from './store/keys.ts';
export { cloudRecords } from './clouds/cloud-state.ts';
export { encode, decode } from './store/codec.ts';
export { type CloudBundle, bundleRulesets, bundleEcis, checkBundle } from './transfers/bundle.ts';
export type { MoveIn, MoveOut } from './store/keys.ts';
export { backoff, backoffMs, retrying, type Backoff } from './backoff.ts';
