/**
 * kumo's public entry (`import … from 'kumo'`): what a ruleset author or an embedding program
 * needs, and nothing else. The TypeScript ruleset builder and zod's `z`; event expressions; the host
 * API (`openHost`, the `Host` and its types); the error catalog, whose codes are stable.
 */
export { ruleset, z, RulesetBuilder, type RuleSpec, type RuleCtx, type QueryCtx, type RulesetOptions } from './rulesets/builder.ts';
export * from './rulesets/event-expr/authoring.ts';
export { openHost, type OpenHostOptions } from './channels/open-node.ts';
export {
  ManualClock,
  type Host,
  type HostOptions,
  type EventInput,
  type EventResult,
  type QueryInput,
  type Directive,
  type Ruleset,
  type RuleContext,
  type QueryContext,
  type KumoEvent,
  type EciInfo,
  type ChildInfo,
  type ScheduleInfo,
  type EventPolicy,
  type QueryPolicy,
  type Limits,
  type Clock,
} from './kernel/index.ts';
export {
  ERROR_CODES,
  isErrorCode,
  KumoError,
  UnknownEciError,
  UnknownCloudError,
  UnknownRulesetError,
  UnknownFunctionError,
  UnknownScheduleError,
  UnknownRouteError,
  PolicyDeniedError,
  NotSharedError,
  InvalidEventError,
  InvalidArgsError,
  InvalidAttrsError,
  InvalidRulesetError,
  InvalidScheduleError,
  DuplicateNameError,
  PayloadTooLargeError,
  LimitExceededError,
  RuleFailedError,
  QueryFailedError,
  type ErrorCode,
} from './kernel/errors.ts';
