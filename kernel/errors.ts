/**
 * The one error catalog. Every error kumo reports has a stable `code` (codes never change; messages
 * may) and the transport status that goes with it. Channels map errors to responses only through
 * {@link KumoError.status}, never by matching messages.
 */

/** Stable error codes and their HTTP-like statuses. */
export const ERROR_CODES = {
  UNKNOWN_ECI: 404,
  UNKNOWN_CLOUD: 404,
  UNKNOWN_RULESET: 404,
  UNKNOWN_FUNCTION: 404,
  UNKNOWN_SCHEDULE: 404,
  UNKNOWN_ROUTE: 404,
  POLICY_DENIED: 403,
  NOT_SHARED: 403,
  INVALID_EVENT: 400,
  INVALID_ATTRS: 400,
  INVALID_ARGS: 400,
  INVALID_RULESET: 400,
  INVALID_SCHEDULE: 400,
  DUPLICATE_NAME: 409,
  PAYLOAD_TOO_LARGE: 413,
  LIMIT_EXCEEDED: 422,
  RULE_FAILED: 500,
  UNSTORABLE_VALUE: 500,
  QUERY_FAILED: 500,
  MAILBOX_FULL: 503,
  SHUTTING_DOWN: 503,
  QUERY_TIMEOUT: 504,
  STORE_FAILED: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Base class of every error kumo raises on purpose. */
export class KumoError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KumoError';
    this.code = code;
    this.details = details;
  }

  /** The transport status for this error (HTTP status; other transports map from it). */
  get status(): number {
    return ERROR_CODES[this.code];
  }

  /** The wire shape: `{code, message, ...details}`. */
  toJSON(): Record<string, unknown> {
    return { code: this.code, message: this.message, ...this.details };
  }
}

export class UnknownEciError extends KumoError {
  constructor(eci: string) {
    super('UNKNOWN_ECI', `no cloud answers to ECI ${JSON.stringify(eci)}`, { eci });
  }
}

export class UnknownCloudError extends KumoError {
  constructor(what: string) {
    super('UNKNOWN_CLOUD', `no such cloud: ${what}`);
  }
}

export class PolicyDeniedError extends KumoError {
  constructor(what: string, eci: string) {
    super('POLICY_DENIED', `the policy of ECI ${eci} does not allow ${what}`, { eci });
  }
}

export class InvalidEventError extends KumoError {
  constructor(message: string) {
    super('INVALID_EVENT', message);
  }
}

export class InvalidArgsError extends KumoError {
  constructor(message: string) {
    super('INVALID_ARGS', message);
  }
}

export class InvalidAttrsError extends KumoError {
  constructor(rid: string, rule: string, issues: string) {
    super('INVALID_ATTRS', `event attrs rejected by ${rid}/${rule}: ${issues}`, { rid, rule });
  }
}

export class UnknownRulesetError extends KumoError {
  constructor(rid: string) {
    super('UNKNOWN_RULESET', `ruleset ${JSON.stringify(rid)} is not registered or not installed`, { rid });
  }
}

export class UnknownFunctionError extends KumoError {
  constructor(rid: string, name: string) {
    super('UNKNOWN_FUNCTION', `ruleset ${rid} has no function ${JSON.stringify(name)}`, { rid, name });
  }
}

export class NotSharedError extends KumoError {
  constructor(rid: string, name: string) {
    super('NOT_SHARED', `function ${rid}/${name} is not shared`, { rid, name });
  }
}

export class RuleFailedError extends KumoError {
  constructor(rid: string, rule: string, cause: unknown) {
    super('RULE_FAILED', `rule ${rid}/${rule} failed: ${messageOf(cause)}`, { rid, rule }, { cause });
  }
}

export class QueryFailedError extends KumoError {
  constructor(rid: string, name: string, cause: unknown) {
    super('QUERY_FAILED', `function ${rid}/${name} failed: ${messageOf(cause)}`, { rid, name }, { cause });
  }
}

export class MailboxFullError extends KumoError {
  constructor(cloudId: string, limit: number) {
    super('MAILBOX_FULL', `the mailbox of cloud ${cloudId} is full (${limit} messages); retry later`, { limit });
  }
}

export class LimitExceededError extends KumoError {
  constructor(limit: string, value: number, message: string) {
    super('LIMIT_EXCEEDED', message, { limit, value });
  }
}

export class ShuttingDownError extends KumoError {
  constructor() {
    super('SHUTTING_DOWN', 'the host is shutting down');
  }
}

/** The message of anything thrown, for error texts. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Attach rule context to an error thrown inside a rule: kumo errors keep their code and gain
 * `rid`/`rule`; anything else becomes RULE_FAILED.
 */
export function inRule(err: unknown, rid: string, rule: string): KumoError {
  if (err instanceof KumoError) {
    if (err.details['rid'] === undefined) {
      const named = new KumoError(err.code, `rule ${rid}/${rule}: ${err.message}`, { ...err.details, rid, rule }, { cause: err });
      return named;
    }
    return err;
  }
  return new RuleFailedError(rid, rule, err);
}
