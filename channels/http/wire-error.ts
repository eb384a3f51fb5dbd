import { STATUS_CODES } from 'node:http';
import { KumoError, messageOf } from '../../kernel/index.ts';

/** The JSON shape of an error on every transport: `{code, message, ...details}`. */
export interface WireError {
  code: string;
  message: string;
  [detail: string]: unknown;
}

/**
 * Map anything thrown to a status and a wire error. Only KumoErrors carry a status of their own;
 * anything else is a bug in kumo, reported as 500 INTERNAL. `internal` errors are logged by the
 * caller, with their cause: those and STORE_FAILED (a full disk, a failing one).
 */
export function toWireError(err: unknown): { status: number; error: WireError; internal: boolean } {
  // A store that cannot write is the operator's to know about: its cause is logged (the client sees no path).
  if (err instanceof KumoError) return { status: err.status, error: err.toJSON() as WireError, internal: err.code === 'STORE_FAILED' };
  // The message, never the stack, and without file paths: the whole error is logged on the host.
  return { status: 500, error: { code: 'INTERNAL', message: messageOf(err) }, internal: true };
}

/**
 * A whole HTTP response carrying `err`, for a socket that no ServerResponse answers (a request
 * Node could not parse, a refused WebSocket upgrade): JSON like every other error, then close.
 */
export function rawErrorResponse(err: KumoError): string {
  const body = JSON.stringify({ error: err.toJSON() });
  const head = [`HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}`, 'connection: close', 'content-type: application/json; charset=utf-8', 'access-control-allow-origin: *', `content-length: ${Buffer.byteLength(body)}`];
  return `${head.join('\r\n')}\r\n\r\n${body}`;
}
