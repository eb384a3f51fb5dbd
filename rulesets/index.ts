/** The rulesets' public entry: the TypeScript builder, event expressions and built-in rulesets. */
import type { Ruleset } from '../kernel/index.ts';
import { wrangler, WRANGLER_RID } from './wrangler.ts';
import { links, DEFAULT_LINK_POLICY } from './links.ts';
import { LINKS_RID } from './link-policies.ts';

export { ruleset, z, RulesetBuilder, validation, type RuleSpec, type RuleCtx, type QueryCtx, type RulesetOptions } from './builder.ts';
// The curated list of event-expression exports lives in event-expr.ts.
export * from './event-expr.ts';
export { wrangler, WRANGLER_RID, links, LINKS_RID, DEFAULT_LINK_POLICY };

/** Rulesets every host registers and installs into every cloud. */
export const builtinRulesets: readonly Ruleset[] = [wrangler, links];
