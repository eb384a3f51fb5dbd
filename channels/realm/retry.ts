import type { Backoff } from '../../kernel/index.ts';

/** How the realm tries again in place (an inbox message, a device event, a moved copy to delete): from 50 ms to 5 s. */
export const RETRY: Backoff = { firstMs: 50, maxMs: 5_000 };
