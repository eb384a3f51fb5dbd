import { checkRid } from '../validate.ts';
import { attenuate, SYSTEM_TAG, type Authority } from './authority.ts';
import { InvalidArgsError, InvalidRulesetError, messageOf } from '../errors.ts';
import { deepFreeze } from '../clouds/freeze.ts';
import { newEci, partitionOf, type CloudId, type Eci, type IdGenerator } from '../ids.ts';
import type { EciInfo, Ruleset } from '../ruleset.ts';

/**
 * ECIs a ruleset declares (`Ruleset.ecis`): made with each install of the ruleset and deleted with
 * its uninstall, so a cloud has them from the moment the ruleset is there. The pico engine makes
 * its well-known channel from a rule reacting to `wrangler:ruleset_installed` instead, which leaves
 * a window in which a client finds none; here the built-ins' ECIs are written with the cloud.
 */

const TAG = /^[A-Za-z0-9_.-]{1,50}$/;

/** Tags of a new ECI, lower-cased; INVALID_ARGS unless at most 20 names of [A-Za-z0-9_.-], none `system`. */
export function checkTags(tags: unknown): string[] {
  if (!Array.isArray(tags) || tags.length > 20 || !tags.every((t) => typeof t === 'string' && TAG.test(t))) {
    throw new InvalidArgsError('tags must be an array of at most 20 names of [A-Za-z0-9_.-]');
  }
  const lower = tags.map((t: string) => t.toLowerCase());
  if (lower.includes(SYSTEM_TAG)) throw new InvalidArgsError(`the tag "${SYSTEM_TAG}" is reserved`);
  return lower;
}

/** Refuse a ruleset with a bad rid or declared ECIs that could not be made (checked when it is registered or an app is started). */
export function checkRuleset(ruleset: Ruleset): void {
  checkRid(ruleset.rid);
  for (const declared of ruleset.ecis ?? []) {
    try {
      checkTags(declared.tags);
      attenuate(declared, undefined);
    } catch (err) {
      throw new InvalidRulesetError(`${ruleset.rid} declares an ECI that cannot be made: ${messageOf(err)}`);
    }
  }
}

/**
 * New ECIs for the ECIs `ruleset` declares, in the cloud `cloudId`: as declared when the cloud makes
 * them itself (a new cloud's rulesets), cut down to `creator`'s authority when made through an ECI.
 */
export function declaredEcis(ruleset: Ruleset | undefined, cloudId: CloudId, ids: IdGenerator, creator?: Authority, partition = partitionOf(cloudId)): EciInfo[] {
  return asDeclared(
    ruleset,
    (ruleset?.ecis ?? []).map(() => newEci(ids, partition)),
    creator,
  );
}

/** The ECIs `ruleset` declares, with the given ids (in declaration order; extra ids are ignored). */
export function asDeclared(ruleset: Ruleset | undefined, ids: readonly Eci[], creator?: Authority): EciInfo[] {
  if (!ruleset) return [];
  const made = creator ? (ruleset.ecis ?? []).map((d) => ({ tags: checkTags(d.tags), ...attenuate(d, creator) })) : asMade(ruleset);
  return made.slice(0, ids.length).map((d, i) => ({ id: ids[i]!, ...d }));
}

const madeBy = new WeakMap<Ruleset, ReadonlyArray<Omit<EciInfo, 'id'>>>();

/**
 * The tags and policies of the ECIs `ruleset` declares, as the cloud makes them itself: checked
 * and parsed once per ruleset (every activation of every cloud asks), frozen since clouds share them.
 */
function asMade(ruleset: Ruleset): ReadonlyArray<Omit<EciInfo, 'id'>> {
  let d = madeBy.get(ruleset);
  if (!d) {
    d = (ruleset.ecis ?? []).map((e) => deepFreeze({ tags: checkTags(e.tags), ...attenuate(e, undefined) }));
    madeBy.set(ruleset, d);
  }
  return d;
}
