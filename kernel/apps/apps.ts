import { createHash } from 'node:crypto';
import { AppLimitExceededError, AppSourceDeniedError, InvalidAppError, LimitExceededError, messageOf } from '../errors.ts';
import { checkRuleset } from '../capabilities/declared-ecis.ts';
import type { HttpRequest, HttpResponse, Ruleset } from '../ruleset.ts';
import { keys, type AppRecord, type InstallRecord } from '../store/keys.ts';
import type { Store } from '../store/store.ts';

/**
 * The apps of a host's clouds (docs/apps.md): their sources, stored once by content hash, and their
 * rulesets, each running in a sandbox of its own that every cloud with that app shares. The kernel
 * stores, finds and checks; turning source into a sandboxed ruleset, and fetching a URL, is the
 * engine's (rulesets/apps), given to the host.
 */

/** Turns app sources into sandboxed rulesets and fetches them: the host's, from its options. */
export interface AppEngine {
  /** Compile and start `source`; refuses with INVALID_APP what is not an app. */
  load(source: string): Promise<Ruleset>;
  /** The source at `url`, within the operator's rules for where apps may come from, their size and time. */
  fetch(url: string): Promise<string>;
  /** An HTTP request of a rule's, within the operator's rules for what apps may reach. */
  http(request: HttpRequest): Promise<HttpResponse>;
}

/** The content hash by which an app's source is stored and named. */
export function appHash(source: string): string {
  return createHash('sha256').update(source).digest('hex');
}

/** An app that runs out of time this many times within {@link STRIKE_WINDOW_MS} in one cloud is suspended there. */
export const STRIKES = 3;
export const STRIKE_WINDOW_MS = 60_000;
/** How long it stays suspended: its rules in that cloud fail at once, costing the host nothing. */
export const SUSPEND_MS = 60_000;

export class Apps {
  private readonly loaded = new Map<string, Promise<Ruleset>>();
  private readonly ready = new Map<string, Ruleset>();
  /** Per cloud and app: when it last ran out of time, and until when it is suspended there. */
  private readonly strikes = new Map<string, { times: number[]; until: number }>();
  /** The hash last installed from each app URL read so far ('' for none: installs from it run their own). */
  private readonly urls = new Map<string, string>();

  constructor(
    private readonly store: Store,
    private readonly engine: AppEngine | undefined,
    /** The most engines this host runs (each holds its own memory); an app new to the host past it is refused. */
    private readonly maxEngines = Infinity,
  ) {}

  /** The ruleset an install runs: its app's, when loaded, or the host's by rid. */
  rulesetOf(install: InstallRecord, registry: ReadonlyMap<string, Ruleset>): Ruleset | undefined {
    return install.app ? this.ready.get(this.runs(install.app)) : registry.get(install.rid);
  }

  /**
   * The content an app install runs: what was last installed from its URL on this host (a URL
   * whose content changed updates every install from it, docs/apps.md "Updates"), else its own.
   */
  private runs(app: AppRecord): string {
    const latest = app.url === undefined ? undefined : this.urls.get(app.url);
    return latest !== undefined && this.ready.has(latest) ? latest : app.hash;
  }

  /** An app install as it runs: its record with the hash and version of the content it runs. */
  running(app: AppRecord): AppRecord {
    const hash = this.runs(app);
    return hash === app.hash ? app : { ...app, hash, version: this.ready.get(hash)!.version };
  }

  /** Content was installed from `url` (committed): every install from that URL runs it from now on. */
  registered(url: string, hash: string): void {
    this.urls.set(url, hash);
  }

  /** Load the apps a cloud's installs name and this host has not started yet (on activation). */
  ensure(installs: readonly InstallRecord[]): Promise<void> | undefined {
    const apps = installs.flatMap((i) => (i.app ? [i.app] : []));
    const unread = apps.flatMap((a) => (a.url !== undefined && !this.urls.has(a.url) ? [a.url] : []));
    const missing = (): string[] => [...new Set(apps.flatMap((a) => [a.hash, ...(a.url === undefined ? [] : [this.urls.get(a.url)])]))].filter((h): h is string => h !== undefined && h !== '' && !this.ready.has(h));
    if (unread.length === 0 && missing().length === 0) return undefined;
    return (async () => {
      for (const url of unread) this.urls.set(url, (await this.store.get(keys.appUrl(url))) ?? '');
      await this.startAll(missing());
    })();
  }

  private async startAll(hashes: string[]): Promise<void> {
    for (const hash of hashes) {
      const source = await this.store.get(keys.appSource(hash));
      // A source this host lacks leaves the app out, as a ruleset the host lacks is (the log says which).
      if (source === undefined || !this.engine) continue;
      await this.start(hash, source).catch(() => undefined);
    }
  }

  /** Fetch an app's source from `url` through the engine. */
  fetch(url: string): Promise<string> {
    if (!this.engine) return Promise.reject(new AppSourceDeniedError(url, 'this host runs no apps'));
    return this.engine.fetch(url);
  }

  /** A rule's HTTP request, through the engine. */
  http(request: HttpRequest): Promise<HttpResponse> {
    if (!this.engine) return Promise.reject(new AppSourceDeniedError(request.url, 'this host makes no HTTP requests for rulesets'));
    return this.engine.http(request);
  }

  /** Start `source` (or find it started): its hash and ruleset. */
  async add(source: string): Promise<{ hash: string; ruleset: Ruleset }> {
    if (!this.engine) throw new InvalidAppError('this host runs no apps (it was started without an app engine)');
    const hash = appHash(source);
    return { hash, ruleset: await this.start(hash, source) };
  }

  private start(hash: string, source: string): Promise<Ruleset> {
    let p = this.loaded.get(hash);
    if (!p) {
      if (this.loaded.size >= this.maxEngines) return Promise.reject(new LimitExceededError('appEngines', this.maxEngines, `this host runs ${this.maxEngines} app engines, its most; an app it does not run yet cannot be installed`));
      p = this.engine!.load(source).then((rs) => {
        try {
          checkRuleset(rs);
        } catch (err) {
          throw new InvalidAppError(messageOf(err));
        }
        this.ready.set(hash, rs);
        return rs;
      });
      // A failed start may be tried again (the engine may have been short of memory).
      p.catch(() => this.loaded.delete(hash));
      this.loaded.set(hash, p);
    }
    return p;
  }

  /**
   * Refuse to run app `rid` in `cloudId` while it is suspended there: an app that runs out of time
   * on every event would otherwise cost the host its whole time limit per event it is sent.
   */
  checkSuspended(cloudId: string, rid: string, now: number): void {
    const key = `${cloudId}\u0000${rid}`;
    const s = this.strikes.get(key);
    if (!s) return;
    if (s.until > now) throw new AppLimitExceededError(rid, 'time', `app ${rid} is suspended in this cloud for ${Math.ceil((s.until - now) / 1000)} s more: it ran out of time ${STRIKES} times within ${STRIKE_WINDOW_MS / 1000} s`);
    // Forgotten once it counts for nothing: no suspension, no strike within the window.
    if (s.times.every((t) => t <= now - STRIKE_WINDOW_MS)) this.strikes.delete(key);
  }

  /** Count a rule run of app `rid` in `cloudId` that failed with `err`: running out of time is a strike. */
  failed(cloudId: string, rid: string, err: unknown, now: number): void {
    if (!(err instanceof AppLimitExceededError) || err.details['limit'] !== 'time') return;
    const key = `${cloudId}\u0000${rid}`;
    const times = [...(this.strikes.get(key)?.times ?? []).filter((t) => t > now - STRIKE_WINDOW_MS), now];
    this.strikes.set(key, times.length >= STRIKES ? { times: [], until: now + SUSPEND_MS } : { times, until: 0 });
  }

  /** Clouds and apps with strikes or a suspension on record (for tests of the bookkeeping). */
  get struck(): number {
    return this.strikes.size;
  }

  /** How many app sandboxes this host runs. */
  get size(): number {
    return this.ready.size;
  }
}
