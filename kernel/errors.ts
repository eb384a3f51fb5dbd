/**
 * The one error catalog. Every error kumo reports has a stable `code` (codes never change; messages
 * may), its own class (so `instanceof` works, also after a rule's context is added) and the
 * transport status that goes with it. Channels map errors to responses only through
 * {@link KumoError.status}, never by matching messages.
 */

export type Details = Record<string, unknown>;

/**
 * Base class of every error kumo raises on purpose. Each code has a subclass, made by {@link kind}
 * with its code and status: throw those.
 */
export class KumoError extends Error {
  readonly code: ErrorCode;
  readonly details: Details;

  constructor(code: ErrorCode, message: string, details: Details = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }

  /** The transport status for this error (HTTP status; other transports map from it). */
  get status(): number {
    return (this.constructor as { status?: number }).status ?? 500;
  }

  /** The wire shape: `{code, message, ...details}`. */
  toJSON(): Details {
    return { code: this.code, message: this.message, ...this.details };
  }

  /** A copy of this error, of the same class, with a new message and more details; this error is its cause. */
  withContext(message: string, details: Details): KumoError {
    return Reflect.construct(KumoError, [this.code, message, { ...this.details, ...details }, { cause: this }], this.constructor) as KumoError;
  }
}

/**
 * The base class of the errors of one code and its transport status: the one place the code is
 * written. Its constructor takes the message and details; a subclass may take what it needs.
 */
function kind<const C extends string>(code: C, status: number) {
  return class extends KumoError {
    static readonly code = code;
    static readonly status = status;
    constructor(message: string, details: Details = {}, options?: { cause?: unknown }) {
      super(code as ErrorCode, message, details, options);
    }
  };
}

export class UnknownEciError extends kind('UNKNOWN_ECI', 404) {
  constructor(eci: string, message = `no cloud answers to ECI ${JSON.stringify(eci)}`) {
    super(message, { eci });
  }
}

export class UnknownCloudError extends kind('UNKNOWN_CLOUD', 404) {
  constructor(what: string, message = `no such cloud: ${what}`) {
    super(message);
  }
}

export class UnknownRulesetError extends kind('UNKNOWN_RULESET', 404) {
  constructor(rid: string) {
    super(`ruleset ${JSON.stringify(rid)} is not registered or not installed`, { rid });
  }
}

export class UnknownFunctionError extends kind('UNKNOWN_FUNCTION', 404) {
  constructor(rid: string, name: string) {
    super(`ruleset ${rid} has no function ${JSON.stringify(name)}`, { rid, name });
  }
}

export class UnknownScheduleError extends kind('UNKNOWN_SCHEDULE', 404) {}
export class UnknownRouteError extends kind('UNKNOWN_ROUTE', 404) {}

/** No link (pico subscription) of the cloud has that Id (or Rx, or Tx). */
export class UnknownLinkError extends kind('UNKNOWN_LINK', 404) {
  constructor(which: string) {
    super(`no link answers to ${which}`);
  }
}

export class PolicyDeniedError extends kind('POLICY_DENIED', 403) {
  constructor(what: string, eci: string) {
    super(`the policy of ECI ${eci} does not allow ${what}`, { eci });
  }
}

/** The operator does not let this host send events to that host of another provider. */
export class DestinationDeniedError extends kind('DESTINATION_DENIED', 403) {
  constructor(url: string, message = `this host may not send events to ${url} (see kumo serve --allow-hosts / --deny-hosts)`) {
    super(message, { url });
  }
}

export class NotSharedError extends kind('NOT_SHARED', 403) {
  constructor(rid: string, name: string) {
    super(`function ${rid}/${name} is not shared`, { rid, name });
  }
}

export class InvalidEventError extends kind('INVALID_EVENT', 400) {}
export class InvalidArgsError extends kind('INVALID_ARGS', 400) {}
export class InvalidRulesetError extends kind('INVALID_RULESET', 400) {}
export class InvalidScheduleError extends kind('INVALID_SCHEDULE', 400) {}

export class InvalidAttrsError extends kind('INVALID_ATTRS', 400) {
  constructor(rid: string, rule: string, issues: string) {
    super(`event attrs rejected by ${rid}/${rule}: ${issues}`, { rid, rule });
  }
}

export class DuplicateNameError extends kind('DUPLICATE_NAME', 409) {}
export class PayloadTooLargeError extends kind('PAYLOAD_TOO_LARGE', 413) {}

export class LimitExceededError extends kind('LIMIT_EXCEEDED', 422) {
  constructor(limit: string, value: number, message: string) {
    super(message, { limit, value });
  }
}

export class RuleFailedError extends kind('RULE_FAILED', 500) {
  constructor(rid: string, rule: string, cause: unknown) {
    super(`rule ${rid}/${rule} failed: ${messageOf(cause)}`, { rid, rule }, { cause });
  }
}

/** A value a rule or function made cannot be stored or sent (a BigInt, a cycle, not plain data). */
export class UnstorableValueError extends kind('UNSTORABLE_VALUE', 500) {
  constructor(what: string, cause: unknown) {
    super(`a value staged for ${what} cannot be stored: ${messageOf(cause)}`, {}, { cause });
  }
}

export class QueryFailedError extends kind('QUERY_FAILED', 500) {
  constructor(rid: string, name: string, cause: unknown) {
    super(`function ${rid}/${name} failed: ${messageOf(cause)}`, { rid, name }, { cause });
  }
}

/**
 * A host of another provider answered with an error that is no code of this catalog (a pico
 * engine's `200 {"error": …}`, a 4xx without a kumo error body): it will not take the event.
 */
export class RemoteRefusedError extends kind('REMOTE_REFUSED', 502) {}

/** A host of another provider could not be reached, or answered 5xx or 429: worth another try. */
export class RemoteUnavailableError extends kind('REMOTE_UNAVAILABLE', 503) {}

export class MailboxFullError extends kind('MAILBOX_FULL', 503) {
  constructor(cloudId: string, limit: number) {
    super(`the mailbox of cloud ${cloudId} is full (${limit} messages); retry later`, { limit });
  }
}

export class OutboxFullError extends kind('OUTBOX_FULL', 503) {
  constructor(limit: number) {
    super(`this host already holds ${limit} outgoing events not yet delivered; retry later`, { limit });
  }
}

export class ShuttingDownError extends kind('SHUTTING_DOWN', 503) {
  constructor() {
    super('the host is shutting down');
  }
}

export class QueryTimeoutError extends kind('QUERY_TIMEOUT', 504) {
  constructor(rid: string, name: string, ms: number) {
    super(`function ${rid}/${name} ran longer than ${ms} ms`, { rid, name });
  }
}

/**
 * The store could not write. The message names no file or path (clients see it); the store's own
 * error is the `cause`, for the operator's logs.
 */
export class UnknownClaimCodeError extends kind('UNKNOWN_CLAIM_CODE', 404) {
  constructor() {
    super('no device waits for this claim code (wrong, or already used)');
  }
}

export class ClaimCodeExpiredError extends kind('CLAIM_CODE_EXPIRED', 410) {
  constructor(expired: number) {
    super(`the claim code expired at ${new Date(expired).toISOString()}; ask the owner for a new one`, { expired });
  }
}

/** An idempotency key came back with a different event than the one it was first used for. */
export class IdempotencyKeyReusedError extends kind('IDEMPOTENCY_KEY_REUSED', 422) {
  constructor(key: string, eid: string) {
    super(`idempotency key ${JSON.stringify(key)} was used for a different event (eid ${eid}); use a new key for a new event`, { key, eid });
  }
}

/** A console request without a session that works (none, ended, expired, or its ECI deleted): sign in. */
export class SessionInvalidError extends kind('SESSION_INVALID', 401) {}

/** A passkey sign-in that did not verify (unknown passkey, bad signature, old counter, stale challenge). */
export class SignInFailedError extends kind('SIGN_IN_FAILED', 401) {}

/** A console request that changes something came without the session's CSRF token, or from another origin. */
export class CsrfRefusedError extends kind('CSRF_REFUSED', 403) {}

/** Too many attempts of one kind; `retryAfter` is in seconds. */
export class RateLimitedError extends kind('RATE_LIMITED', 429) {
  constructor(what: string, retryAfter: number) {
    super(`too many failed ${what}; retry in ${retryAfter} s`, { retryAfter });
  }
}

export class StoreFailedError extends kind('STORE_FAILED', 500) {
  constructor(cause: unknown) {
    super('the store could not write the episode; nothing of it was kept', {}, { cause });
  }

  /** What a failed write answers: a KumoError (a full mailbox, a closing host) as it is, anything else STORE_FAILED. */
  static of(err: unknown): KumoError {
    return err instanceof KumoError ? err : new StoreFailedError(err);
  }
}

/**
 * A record of the host's sealed store does not authenticate (a changed byte, a value moved to
 * another key, a cloud's wrapped data key that does not open): nothing is guessed from it, and the
 * cloud it belongs to is refused until the operator restores it (docs/encryption.md).
 */
export class StoreCorruptError extends kind('STORE_CORRUPT', 500) {
  constructor(key: string, what: string) {
    super(`the store's record ${JSON.stringify(key)} is damaged: ${what}`, { key });
  }
}

/** No host of the realm answered for the ECI (the host that has it is down or gone). */
export class NoRespondersError extends kind('NO_RESPONDERS', 503) {
  constructor(eci: string, host: string) {
    super(`no host of the realm answers for ECI ${JSON.stringify(eci)} (its host ${host} is not running); retry later`, { eci, host });
  }
}

/** The host that has the ECI did not answer in time. */
export class RemoteTimeoutError extends kind('REMOTE_TIMEOUT', 504) {
  constructor(eci: string, host: string, ms: number) {
    super(`host ${host}, which has ECI ${JSON.stringify(eci)}, did not answer within ${ms} ms`, { eci, host });
  }
}

/**
 * A request that changes state was sent to the host that has the ECI, and no answer came (a time
 * limit, a lost connection, that host gone): it may or may not have been applied. A retry with the
 * same idempotency key is safe (it is applied once, and gets the first answer back); one without a
 * key may apply it twice. Never said of work that was not sent: that is 503.
 */
export class OutcomeUnknownError extends kind('OUTCOME_UNKNOWN', 504) {
  constructor(eci: string, host: string, why: string) {
    super(`the request for ECI ${JSON.stringify(eci)} was sent to host ${host}, which ${why}: it may or may not have been applied; retry it with the same idempotency key`, { eci, host });
  }
}

/** This host is not connected to its realm (it still serves its own clouds), or could not join it. */
export class RealmUnavailableError extends kind('REALM_UNAVAILABLE', 503) {
  constructor(what: string, why = 'this host is not connected to its realm') {
    super(`cannot ${what}: ${why}; retry later`);
  }
}

/** The realm shows a newer claim on what this host serves: it stopped serving (another host serves its clouds). */
export class HostFencedError extends kind('HOST_FENCED', 503) {
  constructor(reason: string) {
    super(`this host no longer serves its clouds: ${reason}; retry through another host of the realm`);
  }
}

/** The ECI's cloud left this host for another provider: `location` is where it went. */
export class CloudMovedError extends kind('CLOUD_MOVED', 410) {
  constructor(eci: string, location: string) {
    super(`the cloud of ECI ${JSON.stringify(eci)} has moved to ${location}`, { eci, location });
  }
}

/** A cloud file (export) that cannot be imported: `reason` is foreign, truncated, corrupt, version or passphrase. */
export class InvalidCloudFileError extends kind('INVALID_CLOUD_FILE', 400) {
  constructor(reason: 'foreign' | 'truncated' | 'corrupt' | 'version' | 'passphrase', message: string) {
    super(message, { reason });
  }
}

/** An import needs rulesets this host does not have. */
export class MissingRulesetsError extends kind('MISSING_RULESETS', 422) {
  constructor(rids: string[]) {
    super(`this host does not have the rulesets the clouds use: ${rids.join(', ')}; register them (kumo serve --rulesets) and import again`, { rids });
  }
}

/** An import would collide with a cloud or an ECI this host has already. */
export class ImportConflictError extends kind('IMPORT_CONFLICT', 409) {
  constructor(what: string, ids: string[]) {
    super(`this host already has ${what}: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}`, { ids });
  }
}

/** HTTP the server could not parse (Node's own parser refused it). */
/** An app reached a limit of its sandbox (time, memory, stack) or its storage quota: the episode or query fails. */
export class AppLimitExceededError extends kind('APP_LIMIT_EXCEEDED', 422) {
  constructor(rid: string, limit: 'time' | 'memory' | 'stack' | 'storage' | 'steps' | 'size', message: string, max?: number) {
    super(message, { rid, limit, ...(max === undefined ? {} : { max }) });
  }
}

/** An app used a permission its cloud's owner did not grant it (or revoked). */
export class AppPermissionDeniedError extends kind('APP_PERMISSION_DENIED', 403) {
  constructor(rid: string, permission: string, message = `app ${rid} has no permission to ${permission}; its owner can grant it (install again with consent)`) {
    super(message, { rid, permission });
  }
}

/** An app asks for permissions its owner has not consented to: install (or update) again with consent. */
export class ConsentRequiredError extends kind('CONSENT_REQUIRED', 409) {
  constructor(rid: string, asks: object) {
    super(`app ${rid} asks for permissions its owner has not granted: ${JSON.stringify(asks)}; install it with consent to grant them`, { rid, asks });
  }
}

/** An app's source is not an app: it does not compile, imports what it may not, or exports no ruleset. */
export class InvalidAppError extends kind('INVALID_APP', 400) {}

/** An app's source could not be fetched: the URL is not allowed, did not answer in time, or answered an error. */
export class AppSourceFailedError extends kind('APP_SOURCE_FAILED', 502) {
  constructor(url: string, message: string) {
    super(message, { url });
  }
}

/** The operator does not let apps reach this URL (a source to install, or a rule's HTTP request): its scheme, host or folder. */
export class AppSourceDeniedError extends kind('APP_SOURCE_DENIED', 403) {
  constructor(url: string, why: string) {
    super(`apps may not reach ${url}: ${why}`, { url });
  }
}

export class MalformedRequestError extends kind('MALFORMED_REQUEST', 400) {}
/** The request did not arrive in time (headers or whole request). */
export class RequestTimeoutError extends kind('REQUEST_TIMEOUT', 408) {}
/** The request's headers are over Node's limit. */
export class HeadersTooLargeError extends kind('HEADERS_TOO_LARGE', 431) {}

export class TooManyConnectionsError extends kind('TOO_MANY_CONNECTIONS', 503) {
  constructor(limit: number) {
    super(`the host already serves ${limit} connections; retry later`, { limit });
  }
}

/**
 * Not a wire error: the store's directory is held by another process (LevelDB's lock), so the host
 * cannot open it.
 */
export class StoreLockedError extends Error {
  readonly code = 'STORE_LOCKED';
  constructor(options?: { cause?: unknown }) {
    super('the store is in use by another process', options);
    this.name = 'StoreLockedError';
  }
}

/**
 * Not a wire error: the store's directory cannot be opened (damaged, or not a LevelDB store): the
 * message is LevelDB's reason, which names the file.
 */
export class StoreOpenError extends Error {
  readonly code = 'STORE_UNREADABLE';
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`the store cannot be opened: ${reason}`, options);
    this.name = 'StoreOpenError';
  }
}

/**
 * Not a wire error: a sealed store's keyring cannot be used (docs/encryption.md): it is missing,
 * damaged, or sealed by another host key than the one given. The host starts with none of it.
 */
export class KeyringError extends Error {
  readonly code = 'KEYRING';
  constructor(
    readonly reason: 'missing' | 'damaged' | 'wrong-key',
    message: string,
  ) {
    super(message);
    this.name = 'KeyringError';
  }
}

/** Every kind of error, each with its code and status. */
const KINDS = [
  UnknownEciError,
  UnknownCloudError,
  UnknownRulesetError,
  UnknownFunctionError,
  UnknownScheduleError,
  UnknownRouteError,
  UnknownLinkError,
  UnknownClaimCodeError,
  ClaimCodeExpiredError,
  PolicyDeniedError,
  DestinationDeniedError,
  NotSharedError,
  InvalidEventError,
  InvalidAttrsError,
  InvalidArgsError,
  InvalidRulesetError,
  InvalidScheduleError,
  DuplicateNameError,
  PayloadTooLargeError,
  LimitExceededError,
  IdempotencyKeyReusedError,
  RateLimitedError,
  RuleFailedError,
  UnstorableValueError,
  QueryFailedError,
  RemoteRefusedError,
  MailboxFullError,
  RemoteUnavailableError,
  OutboxFullError,
  ShuttingDownError,
  QueryTimeoutError,
  StoreFailedError,
  StoreCorruptError,
  NoRespondersError,
  RemoteTimeoutError,
  OutcomeUnknownError,
  RealmUnavailableError,
  HostFencedError,
  CloudMovedError,
  InvalidCloudFileError,
  MissingRulesetsError,
  ImportConflictError,
  MalformedRequestError,
  RequestTimeoutError,
  HeadersTooLargeError,
  TooManyConnectionsError,
  AppLimitExceededError,
  AppPermissionDeniedError,
  ConsentRequiredError,
  InvalidAppError,
  AppSourceFailedError,
  AppSourceDeniedError,
  SessionInvalidError,
  SignInFailedError,
  CsrfRefusedError,
] as const;

/** Stable error codes and their HTTP-like statuses (made from the classes: each code is written once, in its class). */
export const ERROR_CODES = Object.fromEntries(KINDS.map((k) => [k.code, k.status])) as { readonly [K in ErrorCode]: number };

export type ErrorCode = (typeof KINDS)[number]['code'];

const BY_CODE = new Map<string, (typeof KINDS)[number]>(KINDS.map((k) => [k.code, k]));

/**
 * Worth trying again: a full mailbox, a host stopping, a store or realm failure, or anything
 * unexpected. A refusal for good (unknown ECI, policy, bad attrs, a rule that failed) is not.
 */
export function isTransient(err: unknown): boolean {
  if (!(err instanceof KumoError)) return true;
  return err.status >= 503 || err.code === 'STORE_FAILED';
}

/** True for a stable error code. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);
}

/**
 * Rebuild an error from its wire shape `{code, message, ...details}` (an error that crossed a host
 * boundary), as an instance of its code's class. An unknown code is a bug elsewhere: undefined.
 */
export function fromWire(wire: unknown): KumoError | undefined {
  if (typeof wire !== 'object' || wire === null) return undefined;
  const { code, message, ...details } = wire as Details;
  if (!isErrorCode(code)) return undefined;
  return Reflect.construct<[ErrorCode, string, Details], KumoError>(KumoError, [code, typeof message === 'string' ? message : code, details], BY_CODE.get(code));
}

// An absolute file path (or file: URL) not inside a URL or another word: "/a/b", "file:///a/b",
// "C:\\a\\b". It needs two segments, so "1/2" or "and/or" stay.
const PATH = /(?<![\w:/.~-])(?:file:\/\/)?(?:\/[^\s'"`()<>,;:]+){2,}|\b[A-Za-z]:\\[^\s'"`()<>,;]+/g;

/** `text` with absolute file paths replaced by `<path>`: messages reach clients, server paths must not. */
export function withoutPaths(text: string): string {
  return text.replace(PATH, '<path>');
}

/** The message of anything thrown, for error texts (without file paths: it may reach a client). */
export function messageOf(err: unknown): string {
  return withoutPaths(err instanceof Error ? err.message : String(err));
}

/**
 * Attach rule context to an error thrown inside a rule: kumo errors keep their class and code and
 * gain `rid`/`rule`; anything else becomes RULE_FAILED.
 */
export function inRule(err: unknown, rid: string, rule: string): KumoError {
  if (err instanceof KumoError) {
    return err.details['rid'] === undefined ? err.withContext(`rule ${rid}/${rule}: ${err.message}`, { rid, rule }) : err;
  }
  return new RuleFailedError(rid, rule, err);
}
