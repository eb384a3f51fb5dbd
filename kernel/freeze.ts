/**
 * Deep-freeze a value held in a cloud's memory, so a rule or query that mutates what it read
 * (instead of staging a write) fails loudly instead of changing state behind the episode's back.
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
