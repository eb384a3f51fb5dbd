import type { CloudId, Eci } from './ids.ts';
import type { EventPolicy, QueryPolicy } from './capabilities/policy.ts';

/**
 * The ruleset contract between the kernel and the languages in `rulesets/`. It is deliberately
 * small: the kernel indexes rules by the primitive events their selector names, persists each
 * selector's state, and calls `run` with a narrow context that stages every effect.
 */

/** An event as a cloud sees it. */
export interface KumoEvent {
  eid: string;
  domain: string;
  type: string;
  attrs: Record<string, unknown>;
  /** Milliseconds since the epoch, from the host clock when the event arrived. */
  time: number;
}

/** One directive returned to the sender, naming the rule that made it. */
export interface Directive {
  name: string;
  options: Record<string, unknown>;
  meta: { rid: string; rule: string; eid: string };
}

/** What a selector says about one event. */
export interface SelectorResult {
  fired: boolean;
  /** Values captured by the expression (regex groups, `setting`, aggregators). */
  captures: Record<string, unknown>;
  /** The expression's new persisted state; `undefined` means "no state" (and is deleted). */
  state: unknown;
}

/**
 * A rule's event expression, compiled. `events` lists the primitive (domain, type) pairs it listens
 * to (`*` is a wildcard); the kernel evaluates `match` only for events among them, in the rule's
 * order, and writes the returned state with the episode.
 */
export interface Selector {
  readonly events: ReadonlyArray<{ domain: string; type: string }>;
  /**
   * True when it fires on every event among `events`, capturing nothing and keeping no state (a bare
   * `domain:type`): the kernel then does not call `match` (for an app, a call into its sandbox).
   */
  readonly always?: boolean;
  /**
   * `read`, when given, returns a read-only view of the cloud for the rule's ruleset (its config,
   * and entity state with the episode's staged writes). Call it only when needed: it builds the view.
   */
  match(state: unknown, event: KumoEvent, read?: () => ReadContext): SelectorResult;
}

/** The result of validating attrs or config against a schema. */
export type Validation = { ok: true; value: Record<string, unknown> } | { ok: false; issues: string };

export interface Rule {
  name: string;
  select: Selector;
  /** Validate the event's attrs before the rule runs; failure fails the episode with INVALID_ATTRS. */
  validate?: (attrs: Record<string, unknown>) => Validation;
  /**
   * Run the rule (prelude, guard, actions and postlude). Returns whether its action fired (`true`
   * when it returns nothing). Every effect goes through `ctx` and is staged until commit.
   */
  run(ctx: RuleContext): void | boolean | Promise<void | boolean>;
}

/** A function a ruleset may share; reads state only. */
export type SharedFunction = (ctx: QueryContext, args: Record<string, unknown>) => unknown;

export interface Ruleset {
  rid: string;
  version: string;
  meta: { name?: string; description?: string };
  rules: Rule[];
  /** All functions; only those named in `shares` can be queried. */
  functions: Record<string, SharedFunction>;
  shares: string[];
  /** Validate the config given at install time. */
  validateConfig?: (config: Record<string, unknown>) => Validation;
  /**
   * ECIs the ruleset needs in every cloud it is installed in (the pico engine's well-known channel
   * of subscriptions): made with its install, in the same batch (for the built-ins, with the cloud
   * itself, so they exist before any rule runs), and deleted with its uninstall. Made through an
   * ECI, they get at most its authority.
   */
  ecis?: ReadonlyArray<DeclaredEci>;
  /**
   * The rids of the rulesets it uses as modules (KRL's `use module`): each must be installed in the
   * cloud before it, and installing it may not close a cycle of uses (refused with the cycle's path).
   */
  uses?: string[];
  /**
   * What an app asks for beyond what every app may do (docs/apps.md). The kernel holds an installed
   * app to what its owner granted; an operator's ruleset is trusted and this is only informative.
   */
  permissions?: AppPermissions;
}

/**
 * The permissions an app may ask for. Without any, an app may read and write its own entity state,
 * answer with directives, raise events into its cloud's episode, schedule events to its cloud and
 * share functions: that needs no consent.
 */
export interface AppPermissions {
  /** Send events to other clouds (`ctx.send`) and push to the cloud's listeners (`ctx.push`). */
  send?: boolean;
  /** Make and delete the cloud's ECIs (`ctx.newEci`, `ctx.deleteEci`, declared `ecis`). */
  channels?: boolean;
  /** Make and delete children and devices, and claim codes (`ctx.newChild`, `ctx.newDevice`, …). */
  children?: boolean;
  /** Install and uninstall rulesets and move the cloud (`ctx.install`, `ctx.uninstall`, `ctx.moveTo`). */
  manage?: boolean;
  /** Entity state it may hold in one cloud, in bytes (stored size); the host's default when not asked. */
  storage?: number;
  /** The rids of the rulesets (apps or the host's) installed in its cloud whose shared functions it may call (`ctx.call`). */
  calls?: string[];
  /** The hosts it may reach over HTTP (`ctx.http`): `example.com`, or `*.example.com` for every name under it. */
  http?: string[];
}

/** An ECI a ruleset declares. */
export interface DeclaredEci {
  tags: string[];
  eventPolicy: EventPolicy;
  queryPolicy: QueryPolicy;
}

export interface EciInfo {
  id: Eci;
  tags: string[];
  eventPolicy: EventPolicy;
  queryPolicy: QueryPolicy;
}

/** Which child: by any of the fields given, each of which must match. */
export type ChildSelector = { id?: string; name?: string; eci?: string };

/** A ruleset installed in a cloud; for an app, which version, from where, and what its owner granted it. */
export interface InstalledInfo {
  rid: string;
  config: Record<string, unknown>;
  app?: { version: string; hash: string; url?: string; grant: AppPermissions };
}

/** An HTTP request a rule makes (`ctx.http`). */
export interface HttpRequest {
  url: string;
  /** GET (default), HEAD, POST, PUT, PATCH or DELETE. */
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** Its answer, as text (redirects are not followed). */
export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Where an app comes from: a URL, or its source text (an upload). */
export interface AppSource {
  url?: unknown;
  source?: unknown;
}

/** A ruleset registered on the host, as rules and queries may list them. */
export interface RegisteredRuleset {
  rid: string;
  version: string;
  name?: string;
  description?: string;
}

export interface ChildInfo {
  id: CloudId;
  name: string;
  /** The parent's ECI on the child. */
  eci: Eci;
}

/** A device's one-time claim code as shown (`XXXX-XXXX-XXXX`), and when it stops working (ms). */
export interface ClaimCode {
  code: string;
  expires: number;
}

/** A child cloud made for a device, its device ECI and the claim code that hands the ECI over. */
export interface DeviceInfo extends ChildInfo {
  device: { eci: Eci; events: string[]; rids: string[] };
  claim: ClaimCode;
}

export interface ScheduleInfo {
  id: string;
  domain: string;
  type: string;
  attrs: Record<string, unknown>;
  /** Next time it fires (ms since epoch). */
  next: number;
  /** Cron expression for repeating schedules. */
  cron?: string;
}

/** Read access shared by rules and queries. */
export interface ReadContext {
  readonly rid: string;
  readonly config: Record<string, unknown>;
  readonly cloud: { id: string; name: string; parent: string | null };
  /** Host clock time. */
  now(): number;
  readonly ent: { get(name: string): unknown; has(name: string): boolean; names(): string[] };
  children: () => ChildInfo[];
  ecis: () => EciInfo[];
  installed: () => InstalledInfo[];
  /** The rulesets registered on the host (installable into clouds), by rid. */
  registered: () => RegisteredRuleset[];
  schedules: () => ScheduleInfo[];
  /**
   * Another ruleset installed in the cloud, to use as a module: its ruleset and its read-only view
   * of the cloud (an app needs `calls` of that rid). UNKNOWN_RULESET when it is not installed.
   */
  module: (rid: string) => { ruleset: Ruleset; read: ReadContext };
}

export type QueryContext = ReadContext;

/** The sandbox a rule runs in. Everything it changes is staged and committed atomically. */
export interface RuleContext extends ReadContext {
  readonly rule: string;
  readonly event: KumoEvent;
  /** The ECI the event came through (undefined for scheduled events). Raised events keep it. */
  readonly eci: string | undefined;
  /** Attrs after validation (the event's attrs when the rule has no schema). */
  readonly attrs: Record<string, unknown>;
  readonly captures: Record<string, unknown>;
  readonly ent: ReadContext['ent'] & { set(name: string, value: unknown): void; delete(name: string): void };
  directive(name: string, options?: Record<string, unknown>): void;
  /**
   * Raise an event into this same episode (after the current one, breadth-first). With `rid`, only
   * that ruleset's rules see it (KRL's `raise … for rid`).
   */
  raise(domain: string, type: string, attrs?: Record<string, unknown>, options?: { rid?: string }): void;
  /** Stop the rest of this ruleset's rules for the current event. */
  last(): void;
  /**
   * Send an event to another cloud's ECI; released only after this episode commits. Without `host`
   * the ECI is found on this host or in its realm; with it, at the host of another provider whose
   * base URL it is (pico's `Tx_host`), if the operator allows that destination (else
   * DESTINATION_DENIED at once).
   */
  send(eci: string, domain: string, type: string, attrs?: Record<string, unknown>, host?: string): void;
  /** The base URL at which other providers reach this host (pico's `meta:host`), when known. */
  readonly hostUrl: string | undefined;
  /**
   * Push a message to whoever listens on one of this cloud's ECIs (WebSocket clients); released
   * only after this episode commits.
   */
  push(eci: string, name: string, data?: Record<string, unknown>): void;
  /** Schedule an event to this cloud at a time (ms) or repeating by cron. Returns its id. */
  scheduleAt(at: number, domain: string, type: string, attrs?: Record<string, unknown>): string;
  scheduleRepeat(cron: string, domain: string, type: string, attrs?: Record<string, unknown>): string;
  cancelSchedule(id: string): void;
  /** Create a child cloud, with `rids` installed (after the built-ins, empty config) in the same batch. */
  newChild(name: string, opts?: { rids?: unknown }): Promise<ChildInfo>;
  /**
   * Delete a child and all its descendants. A string names the child by id, name or the parent's
   * ECI on it; an object names it only by the fields it gives (all must match the same child).
   */
  deleteChild(which: string | ChildSelector): Promise<ChildInfo>;
  newEci(opts: { tags?: unknown; eventPolicy?: unknown; queryPolicy?: unknown }): EciInfo;
  deleteEci(eci: string): void;
  /**
   * Create a child cloud for a device: `rids` installed, and a device ECI (tag `device`) allowing
   * only events of the `events` domains (default: those the rids' rules select on, but `wrangler`)
   * and queries of the rids, plus a one-time claim code for it valid `expiresIn` ms.
   */
  newDevice(name: string, opts?: { rids?: unknown; events?: unknown; expiresIn?: unknown }): Promise<DeviceInfo>;
  /** A new one-time claim code for one of this cloud's ECIs (earlier codes of it stop working). */
  newClaimCode(eci: string, opts?: { expiresIn?: unknown }): Promise<ClaimCode>;
  /**
   * Move this cloud, with its subtree, to host `to` of the realm once this episode has committed
   * (only through an ECI with the cloud's full authority). The move runs after the episode; its
   * outcome is published as a `kumo:move` diagnostics event.
   */
  moveTo(to: string): void;
  install(rid: string, config?: Record<string, unknown>): void;
  uninstall(rid: string): void;
  /**
   * Install an app (docs/apps.md) from a URL or its source, or update the app of the same rid. An app
   * asking for more than its own state needs `consent: true` (else CONSENT_REQUIRED naming what it
   * asks); so does an update asking for more than was granted.
   */
  installApp(from: AppSource & { config?: unknown; consent?: unknown }): Promise<InstalledInfo>;
  /** Take back a permission granted to the app `rid` in this cloud: its next use of it is refused. */
  revoke(rid: string, permission: string): void;
  /** Call a shared function of another ruleset installed in this cloud (it reads only; an app needs `calls` of that rid). */
  call(rid: string, name: string, args?: Record<string, unknown>): Promise<unknown>;
  /**
   * An HTTP request, answered as text within the host's size and time limits (an app needs `http`
   * for the host; the operator's rules for what apps may reach apply to every ruleset).
   */
  http(request: HttpRequest): Promise<HttpResponse>;
}
