import { createHash } from 'node:crypto';
import { AppSourceDeniedError, InvalidAppError, LimitExceededError, messageOf } from '../errors.ts';
import { checkRuleset } from '../capabilities/declared-ecis.ts';
import type { Ruleset } from '../ruleset.ts';
import { keys, type InstallRecord } from '../store/keys.ts';
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
}

/** The content hash by which an app's source is stored and named. */
export function appHash(source: string): string {
  return createHash('sha256').update(source).digest('hex');
}

export class Apps {
  private readonly loaded = new Map<string, Promise<Ruleset>>();
  private readonly ready = new Map<string, Ruleset>();

  constructor(
    private readonly store: Store,
    private readonly engine: AppEngine | undefined,
    /** The most engines this host runs (each holds its own memory); an app new to the host past it is refused. */
    private readonly maxEngines = Infinity,
  ) {}

  /** The ruleset an install runs: its app's, when loaded, or the host's by rid. */
  rulesetOf(install: InstallRecord, registry: ReadonlyMap<string, Ruleset>): Ruleset | undefined {
    return install.app ? this.ready.get(install.app.hash) : registry.get(install.rid);
  }

  /** Load the apps a cloud's installs name and this host has not started yet (on activation). */
  async ensure(installs: readonly InstallRecord[]): Promise<void> {
    for (const i of installs) {
      if (!i.app || this.ready.has(i.app.hash)) continue;
      const source = await this.store.get(keys.appSource(i.app.hash));
      // A source this host lacks leaves the app out, as a ruleset the host lacks is (the log says which).
      if (source === undefined || !this.engine) continue;
      await this.start(i.app.hash, source).catch(() => undefined);
    }
  }

  /** Fetch an app's source from `url` through the engine. */
  fetch(url: string): Promise<string> {
    if (!this.engine) return Promise.reject(new AppSourceDeniedError(url, 'this host runs no apps'));
    return this.engine.fetch(url);
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

  /** How many app sandboxes this host runs. */
  get size(): number {
    return this.ready.size;
  }
}
