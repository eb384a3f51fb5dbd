/**
 * How the console reaches kumo: its own API under /console/api (the session cookie, and the CSRF
 * token on every call that changes something), and the ordinary sky API with an ECI for clouds
 * reached through the session's cloud (its children). Every refusal is an {@link ApiError} with
 * kumo's code.
 */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** The session as the console's API describes it. */
export interface SessionInfo {
  cloudId: string;
  sid: string;
  eci: string;
  expires: number;
  via: 'code' | 'passkey';
  tags: string[];
  csrf: string;
}

let csrf = '';

async function parse(res: Response): Promise<unknown> {
  const text = await res.text();
  let body: unknown = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    throw new ApiError(res.status, 'INTERNAL', `the host answered ${res.status} with something that is not JSON`);
  }
  if (!res.ok) {
    const e = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, e?.code ?? 'INTERNAL', e?.message ?? `the host answered ${res.status}`, e ?? {});
  }
  return body;
}

/** A call of the console's API: GET without a body, POST (JSON, with the CSRF token) with one. */
export async function consoleCall<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = body === undefined ? { credentials: 'same-origin' } : { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json', 'x-kumo-csrf': csrf }, body: JSON.stringify(body) };
  const out = (await parse(await fetch(`/console/api/${path}`, init))) as T;
  const token = (out as { csrf?: unknown } | null)?.csrf;
  if (typeof token === 'string') csrf = token;
  return out;
}

/** Forget the CSRF token (signed out). */
export function forget(): void {
  csrf = '';
}

/** An event's answer. */
export interface EventAnswer {
  eid: string;
  directives: Array<{ name: string; options: Record<string, unknown>; meta: { rid: string; rule: string } }>;
}

/** A cloud the console acts on: the session's own (through the console's API) or one reached by an ECI (the sky API). */
export interface Target {
  /** undefined: the session's cloud. */
  eci?: string;
  event(domain: string, type: string, attrs?: Record<string, unknown>): Promise<EventAnswer>;
  query<T = unknown>(rid: string, name: string, args?: Record<string, unknown>): Promise<T>;
  logsUrl(limit: number): string;
  /** The newest entries of the episode log, newest first. */
  logs(limit: number): Promise<{ entries: Array<{ domain: string; time: number }> }>;
  deadLetters(): Promise<{ deadLetters: unknown[] }>;
}

const e = encodeURIComponent;

/** The session's own cloud. */
export const own: Target = {
  event: (domain, type, attrs = {}) => consoleCall(`event/${e(domain)}/${e(type)}`, attrs),
  query: (rid, name, args = {}) => consoleCall(`query/${e(rid)}/${e(name)}`, args),
  logsUrl: (limit) => `/console/api/logs/follow?limit=${limit}`,
  logs: (limit) => consoleCall(`logs?limit=${limit}`),
  deadLetters: () => consoleCall('dead-letters'),
};

/** A cloud reached by an ECI (a child's, learned from its parent). */
export function byEci(eci: string): Target {
  const post = async (path: string, body: unknown) => parse(await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), credentials: 'omit' }));
  const get = async (path: string) => parse(await fetch(path, { credentials: 'omit' }));
  return {
    eci,
    event: async (domain, type, attrs = {}) => (await post(`/c/${e(eci)}/event-wait/${e(domain)}/${e(type)}`, attrs)) as EventAnswer,
    query: async (rid, name, args = {}) => (await post(`/c/${e(eci)}/query/${e(rid)}/${e(name)}`, args)) as never,
    logsUrl: (limit) => `/c/${e(eci)}/logs?follow=true&limit=${limit}`,
    logs: async (limit) => (await get(`/c/${e(eci)}/logs?limit=${limit}`)) as never,
    deadLetters: async () => (await get(`/c/${e(eci)}/dead-letters`)) as never,
  };
}

/** Words for a refusal: its code and message. */
export function describeError(err: unknown): string {
  if (err instanceof ApiError) return `${err.code}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
