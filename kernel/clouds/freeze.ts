/**
 * Deep-freeze a value held in a cloud's memory, so a rule or query that mutates what it read
 * (instead of staging a write) fails loudly instead of changing state behind the episode's back.
 */
export function deepFreeze<T>(value: T): T {
  // Binary values (Buffer, Uint8Array) cannot be frozen; they are left as they are.
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value) && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
