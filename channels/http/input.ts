import type { IncomingMessage } from 'node:http';
import type { ChannelLimits } from './limits.ts';
import { InvalidArgsError, InvalidEventError, isList, PayloadTooLargeError, type KumoError } from '../../kernel/index.ts';

/** The code a route refuses bad input with: INVALID_EVENT on event routes, INVALID_ARGS elsewhere. */
export type InputCode = 'INVALID_EVENT' | 'INVALID_ARGS';

function invalid(code: InputCode, message: string, details: Record<string, unknown> = {}): KumoError {
  return code === 'INVALID_EVENT' ? new InvalidEventError(message, details) : new InvalidArgsError(message, details);
}

/**
 * Reading what an HTTP request carries: path segments, the query string and a JSON or urlencoded
 * body, each bounded and strictly decoded. Every refusal is a KumoError with the code the route
 * gives (INVALID_EVENT for events, INVALID_ARGS for queries), so it reaches the client as a 400
 * and nothing reaches a cloud.
 */

/** Bounds on one request's input. */
export type InputLimits = Pick<ChannelLimits, 'bodyBytes' | 'queryKeys'>;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Split a URL path into decoded segments; a malformed %-escape or invalid UTF-8 is refused. */
export function pathSegments(pathname: string, code: InputCode = 'INVALID_ARGS'): string[] {
  return pathname
    .split('/')
    .slice(1)
    .map((seg) => decode(seg, code, 'URL path'));
}

/**
 * Parse `a=1&b=2` (query strings and urlencoded bodies). Repeated keys collect into an array, as
 * the pico engine does. The result has no prototype, so `__proto__` is an ordinary key.
 */
export function parseParams(text: string, limits: InputLimits, code: InputCode, where: string): Record<string, unknown> {
  const out = Object.create(null) as Record<string, unknown>;
  if (text === '') return out;
  const pairs = text.split('&');
  let count = 0;
  for (const pair of pairs) {
    if (pair === '') continue;
    if (++count > limits.queryKeys) {
      throw invalid(code, `the ${where} has more than ${limits.queryKeys} keys`, { limit: limits.queryKeys });
    }
    const eq = pair.indexOf('=');
    const key = decode(eq < 0 ? pair : pair.slice(0, eq), code, where);
    const value = decode(eq < 0 ? '' : pair.slice(eq + 1), code, where);
    const prev = out[key];
    out[key] = prev === undefined ? value : isList(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

function decode(raw: string, code: InputCode, where: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    throw invalid(code, `the ${where} has a malformed %-escape or invalid UTF-8`);
  }
}

/** Most bytes of an oversized body read and thrown away so the client can still read its 413. */
const DISCARD_CAP = 16 * 1024 * 1024;

/**
 * Read the whole body. Past the limit nothing more is kept, but the rest is read and dropped (up to
 * a cap) before refusing: closing a socket with unread bytes would reset it, and the client would
 * see a broken connection instead of the 413.
 */
export async function readBody(req: IncomingMessage, limits: InputLimits): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > DISCARD_CAP) throw tooLarge(limits);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > DISCARD_CAP) throw tooLarge(limits);
    if (size <= limits.bodyBytes) chunks.push(chunk);
  }
  if (size > limits.bodyBytes) throw tooLarge(limits);
  return Buffer.concat(chunks);
}

function tooLarge(limits: InputLimits): KumoError {
  return new PayloadTooLargeError(`the request body is over the limit of ${limits.bodyBytes} bytes`, { limit: limits.bodyBytes });
}

/**
 * Decode a body by its content type: JSON (must be an object), urlencoded, or empty. Other types
 * are refused rather than guessed at; the one guess is JSON sent with curl's default form type.
 */
export function parseBody(body: Buffer, contentType: string | undefined, limits: InputLimits, code: InputCode, what: string): Record<string, unknown> {
  if (body.length === 0) return Object.create(null) as Record<string, unknown>;
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    throw invalid(code, 'the request body is not valid UTF-8');
  }
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  // `curl -d '{"a":1}'` labels JSON as a form. A form body never starts with a bare "{" (browsers
  // and curl --data-urlencode escape it), so such a body is read as the JSON it is.
  const jsonAsForm = type === 'application/x-www-form-urlencoded' && /^\s*\{/.test(text);
  if (type === 'application/x-www-form-urlencoded' && !jsonAsForm) return parseParams(text, limits, code, 'urlencoded body');
  if (jsonAsForm || type === 'application/json' || type === '' || type.endsWith('+json')) {
    if (text.trim() === '') return Object.create(null) as Record<string, unknown>;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (jsonAsForm) {
        throw invalid(
          code,
          `the body starts like JSON but is not valid JSON (${(err as Error).message}), and its content-type header says application/x-www-form-urlencoded (curl -d's default); send JSON with the header content-type: application/json`,
        );
      }
      throw invalid(code, `the request body is not valid JSON: ${(err as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(code, `${what} must be a JSON object`);
    return value as Record<string, unknown>;
  }
  throw invalid(code, `unsupported content-type ${JSON.stringify(type)}: send application/json or application/x-www-form-urlencoded`);
}

/** Query string then body, the body winning on shared keys. */
export async function readParams(req: IncomingMessage, search: string, limits: InputLimits, code: InputCode, what: string): Promise<Record<string, unknown>> {
  const fromQuery = parseParams(search.startsWith('?') ? search.slice(1) : search, limits, code, 'query string');
  const body = await readBody(req, limits);
  const fromBody = parseBody(body, req.headers['content-type'], limits, code, what);
  return { ...fromQuery, ...fromBody };
}
