/** The kernel's public entry: what channels and rulesets may use. */
export { Host, type HostOptions, type EventInput, type EventResult, type QueryInput } from './host.ts';
export type { Directive, EpisodeLogEntry } from './episode.ts';
export type { PushMessage } from './cloud-ops.ts';
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
  ChildInfo,
  ScheduleInfo,
} from './ruleset.ts';
export {
  KumoError,
  ERROR_CODES,
  type ErrorCode,
  UnknownEciError,
  UnknownCloudError,
  PolicyDeniedError,
  InvalidEventError,
  InvalidArgsError,
  InvalidAttrsError,
  UnknownRulesetError,
  UnknownFunctionError,
  NotSharedError,
  RuleFailedError,
  QueryFailedError,
  MailboxFullError,
  LimitExceededError,
  ShuttingDownError,
} from './errors.ts';
export { type Store, type WriteOp, type OrderedDb, LevelStore, openLevelStore } from './store.ts';
export { type Clock, systemClock, ManualClock } from './clock.ts';
export { type IdGenerator, type Eci, type CloudId, cryptoIds, seededIds, isEci, isCloudId, partitionOf, PARTITIONS } from './ids.ts';
export { type Limits, DEFAULT_LIMITS } from './limits.ts';
export { type EventPolicy, type QueryPolicy, eventAllowed, queryAllowed } from './policy.ts';
export { publish, subscribe, type ObservedEvents, type ObservedKind } from './observe.ts';
export { isPlainObject, checkEventName, checkEid, checkAttrs } from './validate.ts';
export { keys, rangeOf } from './keys.ts';
