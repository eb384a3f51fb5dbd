import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  CsrfRefusedError,
  InvalidArgsError,
  RateLimitedError,
  SessionInvalidError,
  SignInFailedError,
  UnknownRouteError,
  claimCodePartition,
  isCloudId,
  normalizeClaimCode,
  partitionOf,
  sessionPartition,
  type Host,
  type OpenedSession,
  type Session,
  type AccessAction,
} from '../../kernel/index.ts';
import { pathSegments, readParams } from '../http/input.ts';
import type { ChannelLimits } from '../http/limits.ts';
import { Passkeys, type RelyingParty } from './passkeys.ts';
import { consoleAssets, type Asset } from '../../console/build.ts';

/**
 * The owner's console over HTTP (docs/console.md): its page and script at `/`, and its API under
 * `/console/api/`. Signing in (a one-time code, or a passkey) sets a session cookie (HttpOnly,
 * SameSite=Strict, Secure); every other call of the API acts as the session's ECI through the same
 * host operations as any ECI (events, queries, the log), so the console can do nothing that ECI
 * could not. A call that changes something needs the session's CSRF token in `x-kumo-csrf` and, when
 * the browser names one, this origin. Sign-in attempts are limited per client address.
 */

export const SESSION_COOKIE = 'kumo_session';
const CSRF_HEADER = 'x-kumo-csrf';

/** Sign-in attempts per client address per minute (codes also spend the host's own budget for wrong ones). */
const SIGNINS_PER_MINUTE = 20;
const CLIENTS_MAX = 10_000;

/** What every console answer carries: no framing, no sniffing, no referrer, scripts only from here. */
const SECURITY: Record<string, string> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};

/** What the console needs of the HTTP API around it. */
export interface ConsoleKit {
  host: Host;
  limits: ChannelLimits;
  /** Keep `p` running until a graceful stop (channels/http/api.ts). */
  track<T>(p: Promise<T>): Promise<T>;
  /** Stream the episode log of `eci` as server-sent events (channels/http/api.ts). */
  follow(res: ServerResponse, eci: string, limit: number): Promise<void>;
  /** Count an answer's status. */
  counted(status: number): void;
}

type Call = { req: IncomingMessage; res: ServerResponse; search: string; params: string[] };
/** `open`: no session needed; `read`: a session; `write`: a session and its CSRF token. */
type Guard = 'open' | 'read' | 'write';

interface ConsoleRoute {
  method: 'GET' | 'POST';
  path: string;
  guard: Guard;
  run: (c: Call & { session: Session; token: string }) => Promise<unknown>;
}

export class ConsoleApi {
  private readonly passkeys: Passkeys;
  private readonly attempts = new Map<string, { tokens: number; at: number }>();
  private readonly routes: ConsoleRoute[];

  private readonly now: () => number;

  constructor(private readonly kit: ConsoleKit) {
    this.now = () => kit.host.clock.now();
    this.passkeys = new Passkeys(this.now);
    this.routes = this.table();
  }

  /** Does this path belong to the console? */
  static owns(pathname: string): boolean {
    return pathname === '/' || pathname === '/console' || pathname.startsWith('/console/');
  }

  /** Answer a console request (anything {@link owns} says is the console's). */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string, search: string): Promise<void> {
    const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
    if (!pathname.startsWith('/console/api/')) return this.asset(res, method, pathname);
    const segs = pathSegments(pathname).slice(2); // after console/api
    for (const route of this.routes) {
      const parts = route.path.split('/');
      if (parts.length !== segs.length || !parts.every((p, i) => p.startsWith(':') || p === segs[i])) continue;
      if (route.method !== method) continue;
      const params = segs.filter((_, i) => parts[i]!.startsWith(':'));
      if (method === 'POST') this.checkOrigin(req);
      const token = route.guard === 'open' ? '' : cookieOf(req);
      const session = route.guard === 'open' ? (undefined as unknown as Session) : await this.session(req, token, route.guard === 'write');
      const body = await route.run({ req, res, search, params, session, token: token ?? '' });
      if (!res.headersSent) this.send(res, 200, body ?? null);
      return;
    }
    throw new UnknownRouteError(`no console route for ${method} ${pathname}`);
  }

  /** The console's routes: what it offers, each as the session's ECI (docs/console.md lists them). */
  private table(): ConsoleRoute[] {
    const { host } = this.kit;
    const access = (token: string, action: AccessAction): Promise<object> => this.kit.track(host.handle({ op: 'access', token, partition: sessionPartition(token), action })) as Promise<object>;
    return [
      { method: 'POST', path: 'signin/code', guard: 'open', run: async (c) => this.opened(c, await this.signIn(c, (label, body) => host.handle({ op: 'signin', partition: partitionOfCode(body['code']), code: text(body['code']), label }))) },
      { method: 'POST', path: 'signin/options', guard: 'open', run: async (c) => (this.limit(c.req), this.passkeys.authentication(this.rp(c.req))) },
      {
        method: 'POST',
        path: 'signin/passkey',
        guard: 'open',
        run: async (c) =>
          this.opened(
            c,
            await this.signIn(c, async (label, body) => {
              const p = await this.passkeys.authenticate(this.rp(c.req), body['response'], (cloudId, credId) => host.handle({ op: 'passkey', partition: partitionOfCloud(cloudId), cloudId, credId }));
              return host.handle({ op: 'signin', partition: partitionOfCloud(p.cloudId), label, passkey: p });
            }),
          ),
      },
      { method: 'GET', path: 'session', guard: 'read', run: async (c) => ({ ...(await this.describe(c.session)), csrf: csrfOf(c.token) }) },
      {
        method: 'POST',
        path: 'signout',
        guard: 'write',
        run: async (c) => {
          await access(c.token, { do: 'revoke', sid: c.session.sid });
          c.res.setHeader('set-cookie', cookie('', 0));
          return { signedOut: true };
        },
      },
      { method: 'GET', path: 'access', guard: 'read', run: async (c) => ({ current: c.session.sid, ...(await access(c.token, { do: 'list' })) }) },
      { method: 'POST', path: 'access/revoke', guard: 'write', run: async (c) => access(c.token, { do: 'revoke', sid: text((await this.body(c))['sid']) }) },
      {
        method: 'POST',
        path: 'passkeys/options',
        guard: 'write',
        run: async (c) => {
          const { passkeys } = (await access(c.token, { do: 'list' })) as { passkeys: Array<{ credId: string }> };
          const name = (text((await this.body(c))['name']) || 'kumo cloud').slice(0, 64);
          return this.passkeys.registration(
            this.rp(c.req),
            c.session.sid,
            c.session.cloudId,
            name,
            passkeys.map((p) => p.credId),
          );
        },
      },
      {
        method: 'POST',
        path: 'passkeys/add',
        guard: 'write',
        run: async (c) => {
          const body = await this.body(c);
          const passkey = await this.passkeys.register(this.rp(c.req), c.session.sid, body['response'], labelOf(c.req, body['label']));
          return access(c.token, { do: 'addPasskey', passkey });
        },
      },
      { method: 'POST', path: 'passkeys/remove', guard: 'write', run: async (c) => access(c.token, { do: 'removePasskey', credId: text((await this.body(c))['credId']) }) },
      {
        method: 'POST',
        path: 'event/:domain/:type',
        guard: 'write',
        run: async (c) => this.kit.track(host.event({ eci: c.session.eci, domain: c.params[0]!, type: c.params[1]!, attrs: { ...(await this.body(c, 'INVALID_EVENT')) } })),
      },
      { method: 'POST', path: 'query/:rid/:name', guard: 'write', run: async (c) => this.kit.track(host.query({ eci: c.session.eci, rid: c.params[0]!, name: c.params[1]!, args: { ...(await this.body(c)) } })) },
      { method: 'GET', path: 'logs', guard: 'read', run: async (c) => ({ entries: await this.kit.track(host.episodeLog(c.session.eci, logLimit(c.search, host.limits.logEntries))) }) },
      { method: 'GET', path: 'logs/follow', guard: 'read', run: async (c) => this.kit.follow(c.res, c.session.eci, logLimit(c.search, host.limits.logEntries)) },
      { method: 'GET', path: 'dead-letters', guard: 'read', run: async (c) => ({ deadLetters: await this.kit.track(host.deadLetters(c.session.eci)) }) },
    ];
  }

  // ---- sessions ----

  /** The session of the request's cookie, checked by the cloud's host; with `write`, also its CSRF token and origin. */
  private async session(req: IncomingMessage, token: string | undefined, write: boolean): Promise<Session> {
    if (token === undefined) throw new SessionInvalidError('no session: sign in');
    if (write) this.checkCsrf(req, token);
    return (await this.kit.track(this.kit.host.handle({ op: 'access', token, partition: sessionPartition(token), action: { do: 'check' } }))) as Session;
  }

  /** A page of another origin may not post to the console: not even to sign in (a sign-in forged from another page, or another port of the same host, would plant its session). */
  private checkOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== this.rp(req).origin) throw new CsrfRefusedError(`a request from ${origin} may not use this console`);
  }

  private checkCsrf(req: IncomingMessage, token: string): void {
    const given = Buffer.from(String(req.headers[CSRF_HEADER] ?? ''));
    const expected = Buffer.from(csrfOf(token));
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new CsrfRefusedError(`a request that changes something needs the session's CSRF token in the ${CSRF_HEADER} header`);
  }

  /** A sign-in attempt: limited per client, its body read, `open` run with the browser's label. */
  private async signIn(c: Call, open: (label: string, body: Record<string, unknown>) => Promise<OpenedSession>): Promise<OpenedSession> {
    this.limit(c.req);
    const body = await this.body(c);
    return this.kit.track(open(labelOf(c.req, undefined), body));
  }

  /** The session just opened: its cookie set, and what the console shows of it. */
  private async opened(c: Call, s: OpenedSession): Promise<Record<string, unknown>> {
    c.res.setHeader('set-cookie', cookie(s.token, Math.max(0, Math.floor((s.expires - this.now()) / 1000))));
    return { ...(await this.describe(s)), csrf: csrfOf(s.token) };
  }

  /** What the console shows of a session: its cloud, its ECI's authority, when it ends. */
  private async describe(s: Session): Promise<Record<string, unknown>> {
    const info = await this.kit.track(this.kit.host.eciInfo(s.eci));
    return { cloudId: s.cloudId, sid: s.sid, eci: s.eci, expires: s.expires, via: s.via, tags: info.tags, eventPolicy: info.eventPolicy, queryPolicy: info.queryPolicy };
  }

  /** One sign-in attempt of this client: RATE_LIMITED past its budget. */
  private limit(req: IncomingMessage): void {
    const who = req.socket.remoteAddress ?? '?';
    const now = this.now();
    if (this.attempts.size >= CLIENTS_MAX) this.attempts.clear();
    const b = this.attempts.get(who) ?? { tokens: SIGNINS_PER_MINUTE, at: now };
    b.tokens = Math.min(SIGNINS_PER_MINUTE, b.tokens + ((now - b.at) * SIGNINS_PER_MINUTE) / 60_000);
    b.at = now;
    this.attempts.set(who, b);
    if (b.tokens < 1) throw new RateLimitedError('sign-in attempts', Math.ceil(((1 - b.tokens) * 60) / SIGNINS_PER_MINUTE));
    b.tokens -= 1;
  }

  /** Where this console is: the origin the browser used (the Host header; https when a proxy says so), its host name the relying party. */
  private rp(req: IncomingMessage): RelyingParty {
    const hostHeader = String(req.headers.host ?? '');
    if (!/^[A-Za-z0-9.[\]:-]{1,255}$/.test(hostHeader)) throw new InvalidArgsError('the request has no usable Host header');
    const proto = req.headers['x-forwarded-proto'] === 'https' ? 'https' : 'http';
    return { origin: `${proto}://${hostHeader}`, rpId: new URL(`${proto}://${hostHeader}`).hostname };
  }

  private body(c: Call, code: 'INVALID_ARGS' | 'INVALID_EVENT' = 'INVALID_ARGS'): Promise<Record<string, unknown>> {
    const json = String(c.req.headers['content-type'] ?? 'application/json')
      .split(';')[0]!
      .trim();
    if (c.req.method === 'POST' && json !== 'application/json') throw new InvalidArgsError('the console sends JSON (content-type: application/json)');
    return readParams(c.req, '', this.kit.limits, code, 'the request');
  }

  // ---- answers ----

  private asset(res: ServerResponse, method: string, pathname: string): void {
    const name = pathname === '/' || pathname === '/console' || pathname === '/console/' ? 'index.html' : pathname.slice('/console/'.length);
    const found: Asset | undefined = method === 'GET' ? consoleAssets().get(name) : undefined;
    if (!found) throw new UnknownRouteError(`no console file ${pathname}`);
    this.kit.counted(200);
    res.writeHead(200, { ...SECURITY, 'content-type': found.type, 'content-length': found.body.length });
    res.end(found.body);
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    this.kit.counted(status);
    res.writeHead(status, { ...SECURITY, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}

/** The CSRF token of a session: derived from its secret token, so only a page that can read this origin's answers learns it. */
function csrfOf(token: string): string {
  return createHash('sha256').update(`kumo csrf ${token}`).digest('base64url');
}

function cookie(token: string, maxAge: number): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=${maxAge}`;
}

function cookieOf(req: IncomingMessage): string | undefined {
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === SESSION_COOKIE && value.length > 0) return value.join('=');
  }
  return undefined;
}

function labelOf(req: IncomingMessage, given: unknown): string {
  return (typeof given === 'string' && given.trim() !== '' ? given : String(req.headers['user-agent'] ?? 'a browser')).slice(0, 120);
}

function logLimit(search: string, max: number): number {
  const text = new URLSearchParams(search).get('limit') ?? String(max);
  const n = Number(text);
  if (!/^\d{1,6}$/.test(text) || n < 1 || n > max) throw new InvalidArgsError(`limit must be an integer from 1 to ${max}`);
  return n;
}

/** The partition of the cloud a sign-in code is for (INVALID_ARGS for what is no code). */
function partitionOfCode(code: unknown): number {
  return claimCodePartition(normalizeClaimCode(code));
}

/** The partition of a cloud named by a passkey's user handle. */
function partitionOfCloud(cloudId: string): number {
  if (!isCloudId(cloudId)) throw new SignInFailedError('this passkey is not registered for a cloud of this host');
  return partitionOf(cloudId);
}

/** A text field of a request ('' when it is not text: the operation then refuses it). */
function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
