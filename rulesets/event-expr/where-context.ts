import type { ReadContext, SharedFunction } from '../../kernel/index.ts';

/** A ruleset's functions, by name, as a `where` may call them. */
export type Functions = Readonly<Record<string, SharedFunction>>;

/**
 * What a `where` guard may read besides the captures and the event, as KRL's
 * `where event:attr("who") == ent:owner` does: the cloud as this ruleset's queries see it (entity
 * state with the episode's staged writes, config), and the ruleset's functions. It has no way to
 * change anything.
 */
export interface WhereContext extends ReadContext {
  /** Call one of the ruleset's functions (shared or not), giving it this same read-only context. */
  fn(name: string, args?: Record<string, unknown>): unknown;
}

/**
 * A {@link WhereContext} that asks the kernel for its view only when the guard first reads it, so
 * guards over captures and the event alone cost one small object.
 */
export class LazyWhereContext implements WhereContext {
  private view: ReadContext | undefined;

  constructor(
    private readonly read: (() => ReadContext) | undefined,
    private readonly functions: Functions,
  ) {}

  private get base(): ReadContext {
    if (this.view === undefined) {
      if (this.read === undefined) throw new Error('this where reads the cloud (entity state, config or functions), which only a host provides');
      this.view = this.read();
    }
    return this.view;
  }

  get rid(): string {
    return this.base.rid;
  }
  get config(): ReadContext['config'] {
    return this.base.config;
  }
  get cloud(): ReadContext['cloud'] {
    return this.base.cloud;
  }
  get ent(): ReadContext['ent'] {
    return this.base.ent;
  }
  now(): number {
    return this.base.now();
  }
  children(): ReturnType<ReadContext['children']> {
    return this.base.children();
  }
  ecis(): ReturnType<ReadContext['ecis']> {
    return this.base.ecis();
  }
  installed(): ReturnType<ReadContext['installed']> {
    return this.base.installed();
  }
  registered(): ReturnType<ReadContext['registered']> {
    return this.base.registered();
  }
  schedules(): ReturnType<ReadContext['schedules']> {
    return this.base.schedules();
  }
  module(rid: string): ReturnType<ReadContext['module']> {
    return this.base.module(rid);
  }

  fn(name: string, args: Record<string, unknown> = {}): unknown {
    const f = Object.hasOwn(this.functions, name) ? this.functions[name] : undefined;
    if (f === undefined) throw new TypeError(`where: the ruleset has no function named ${JSON.stringify(name)}`);
    return f(this, args);
  }
}
