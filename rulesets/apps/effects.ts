/**
 * The effects an app queues inside its sandbox and hands to the host together (they answer nothing
 * and need no permission), and how many arguments each takes: the queue crosses as one flat JSON
 * list, `[op, ...its arguments, op, ...]`, which the sandbox's interpreter writes much faster than a
 * list of lists. Shared by both sides (sandbox-entry.ts, app-ruleset.ts).
 */
export const EFFECT_ARITY: Readonly<Record<string, number>> = { 'ent.set': 2, 'ent.delete': 1, directive: 2, raise: 3, last: 0 };

/** Each effect of a flat list, in order, as its operation and arguments; a list that is not one throws. */
export function eachEffect(list: unknown[], effect: (op: string, args: unknown[]) => void): void {
  for (let i = 0; i < list.length;) {
    const op = list[i];
    const arity = typeof op === 'string' && Object.hasOwn(EFFECT_ARITY, op) ? EFFECT_ARITY[op]! : undefined;
    if (arity === undefined || i + 1 + arity > list.length) throw new TypeError(`ctx.${String(op)} is not an effect an app may queue`);
    effect(op as string, list.slice(i + 1, i + 1 + arity));
    i += 1 + arity;
  }
}
