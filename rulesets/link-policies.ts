import { eventAllowed, InvalidArgsError, parseEventPolicy, parseQueryPolicy, type DeclaredEci, type EventPolicy, type QueryPolicy, type Ruleset } from '../kernel/index.ts';
import { WRANGLER_RID } from './wrangler.ts';

/**
 * The policies of the ECIs links are made of. Capabilities only shrink, so each is chosen for what
 * its holder must be able to do and no more:
 * - the well-known ECI, handed to anyone who may propose a link, admits proposals and their
 *   withdrawal, and the query that names it;
 * - a link's own ECI (Rx), held by the other side, admits every event but the management of the
 *   cloud, and no query of wrangler or of the links ruleset (which would show the cloud's other
 *   links, whose ECIs have the same authority);
 * - an auto-accept rule's approver, held by the cloud alone, admits what a link's ECI admits plus
 *   the approval itself, so links it approves get the default authority and never more.
 */

/** The rid of the links ruleset: the pico engine's subscriptions. */
export const LINKS_RID = 'io.picolabs.subscription';

/** The link protocol's events that reach a link's own ECI from the other side; every link ECI admits them. */
export const RX_PROTOCOL = ['outbound_pending_subscription_approved', 'outbound_removal', 'established_removal'] as const;

/** The well-known ECI of every cloud: where other clouds propose links. Tags as in the pico engine. */
export const WELL_KNOWN_ECI: DeclaredEci = {
  tags: ['wellknown_rx', 'tx_rx'],
  eventPolicy: {
    allow: [
      { domain: 'wrangler', name: 'new_subscription_request' },
      { domain: 'wrangler', name: 'inbound_removal' },
    ],
    deny: [],
  },
  queryPolicy: { allow: [{ rid: LINKS_RID, name: 'wellKnown_Rx' }], deny: [] },
};

/**
 * Events the built-ins only raise (their API events): a link's other side must not be able to forge
 * them either, since other rulesets react to them.
 */
const RAISED = [
  'new_child_created',
  'child_deleted',
  'channel_created',
  'channel_deleted',
  'ruleset_installed',
  'ruleset_uninstalled',
  'outbound_pending_subscription_added',
  'inbound_pending_subscription_added',
  'inbound_pending_subscription_approved',
  'subscription_added',
  'subscription_removed',
  'inbound_subscription_cancelled',
  'outbound_subscription_cancelled',
  'auto_accepted_subscription_request',
  'auto_accept_config_updated',
  'failed_to_send_event_to_sub',
  'role_policy_updated',
];

export type LinkPolicy = { eventPolicy: EventPolicy; queryPolicy: QueryPolicy };

/** The policies a link's ECI gets by default, and an approver's: computed from the built-ins' own rules. */
export interface LinkDefaults {
  link: LinkPolicy;
  approver: LinkPolicy;
}

/**
 * The default policies, from the `wrangler` events the built-in rulesets select or raise: the
 * policy algebra is "deny first", so management is denied event by event (a deny of `wrangler:*`
 * would shut out the link protocol's own events too). Deriving the list from the rules means a
 * management event added later is denied without anyone remembering to.
 */
export function linkDefaults(builtins: readonly Ruleset[]): LinkDefaults {
  const managed = new Set(RAISED);
  for (const rs of builtins) for (const rule of rs.rules) for (const e of rule.select.events) if (e.domain === 'wrangler' && e.type !== '*') managed.add(e.type);
  for (const t of RX_PROTOCOL) managed.delete(t);
  const deny = (except?: string) =>
    [...managed]
      .filter((t) => t !== except)
      .sort()
      .map((name) => ({ domain: 'wrangler', name }));
  const queryPolicy: QueryPolicy = {
    allow: [{ rid: '*', name: '*' }],
    deny: [
      { rid: LINKS_RID, name: '*' },
      { rid: WRANGLER_RID, name: '*' },
    ],
  };
  return {
    link: { eventPolicy: { allow: [{ domain: '*', name: '*' }], deny: deny() }, queryPolicy },
    approver: { eventPolicy: { allow: [{ domain: '*', name: '*' }], deny: deny('pending_subscription_approval') }, queryPolicy: structuredClone(queryPolicy) },
  };
}

/**
 * The policy the owner sets for links with a role: what is given (a missing part keeps the
 * default), plus the link protocol's own events, without which the link could not be approved or
 * ended. INVALID_ARGS when the given deny list would shut them out.
 */
export function rolePolicy(given: { eventPolicy?: unknown; queryPolicy?: unknown }, defaults: LinkPolicy): LinkPolicy {
  const some = (v: unknown): boolean => v !== undefined && v !== null;
  const eventPolicy = some(given.eventPolicy) ? parseEventPolicy(given.eventPolicy) : structuredClone(defaults.eventPolicy);
  for (const name of RX_PROTOCOL) if (!eventPolicy.allow.some((r) => (r.domain === 'wrangler' || r.domain === '*') && (r.name === name || r.name === '*'))) eventPolicy.allow.push({ domain: 'wrangler', name });
  for (const name of RX_PROTOCOL) {
    if (!eventAllowed(eventPolicy, 'wrangler', name)) throw new InvalidArgsError(`a link's policy must admit wrangler:${name} (the link protocol's own event)`);
  }
  const queryPolicy = some(given.queryPolicy) ? parseQueryPolicy(given.queryPolicy) : structuredClone(defaults.queryPolicy);
  return { eventPolicy, queryPolicy };
}
