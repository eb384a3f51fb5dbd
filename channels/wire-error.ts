import { KumoError } from '../kernel/index.ts';

/** The JSON shape of an error on every transport: `{code, message, ...details}`. */
export interface WireError {
  code: string;
  message: string;
  [detail: string]: unknown;
}

/**
 * Map anything thrown to a status and a wire error. Only KumoErrors carry a status of their own;
 * anything else is a bug in kumo, reported as 500 INTERNAL (and logged by the caller).
 */
export function toWireError(err: unknown): { status: number; error: WireError; internal: boolean } {
  if (err instanceof KumoError) return { status: err.status, error: err.toJSON() as WireError, internal: false };
  const message = err instanceof Error ? err.message : String(err);
  return { status: 500, error: { code: 'INTERNAL', message }, internal: true };
}
