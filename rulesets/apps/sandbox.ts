import { newQuickJSWASMModuleFromVariant, newVariant, type QuickJSSyncVariant, type QuickJSContext, type QuickJSHandle, type QuickJSRuntime } from 'quickjs-emscripten-core';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { AppLimitExceededError, PayloadTooLargeError, type KumoError } from '../../kernel/index.ts';

/**
 * One app version's engine: a QuickJS interpreter compiled to WebAssembly, with its own memory (a
 * WebAssembly instance of its own), a memory limit, a stack limit and a time limit per call. The
 * host reaches into it only through the sandbox's calls (sandbox-entry.ts) and it reaches out only
 * through the operations the host lends the call under way. See docs/apps.md.
 */

/** The limits of one sandbox and of each call into it. */
export interface SandboxLimits {
  /** Memory the app's engine may use in all (its heap and the interpreter's own; at least 16 MiB). */
  memoryBytes: number;
  /** Stack the app may use: deep recursion ends with APP_LIMIT_EXCEEDED (stack). */
  stackBytes: number;
  /** The most an app may hand the host in one call (a directive, an entity value, an event's attrs), as JSON. */
  callBytes: number;
}

/**
 * The operations a call lends the app: given an operation's name and its JSON-decoded arguments, its
 * plain value, or a promise of one for the asynchronous ones; it throws for a name it does not lend.
 */
export type Operations = (op: string, args: unknown[]) => unknown;

/** A call under way: what it may do, until when, and how it ends. */
interface Call {
  ops: Operations;
  /** performance.now() past which the interpreter stops the call. */
  deadline: number;
  /** The time left to the call, spent by each turn it runs in the interpreter. */
  budgetMs: number;
  limitMs: number;
  interrupted: boolean;
  /** Errors the host's operations threw into the app, by index: the app's failure may be one of them. */
  hostErrors: unknown[];
  /** Host operations still to answer (a call that waits on nothing else has stalled). */
  waiting: number;
  settle?: (ok: boolean, value: unknown) => void;
}

/** What a sandbox is made from: the prelude (the builder), zod (an expression, run when the app reads `z`) and the app's compiled module (CommonJS). */
export interface SandboxCode {
  prelude: string;
  zod: string;
  app: string;
}

/** The host's WebAssembly, as far as a sandbox uses it (the project's TypeScript libraries do not declare it). */
const wasm = (globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number }) => object; compile: (bytes: Uint8Array) => Promise<object> } }).WebAssembly;

let compiled: Promise<object> | undefined;

/** QuickJS's WebAssembly module, compiled once per process: each engine is an instance of it, with a memory of its own. */
function quickjsWasm(): Promise<object> {
  compiled ??= readFile(createRequire(import.meta.url).resolve('@jitl/quickjs-wasmfile-release-sync/wasm')).then((bytes) => wasm.compile(bytes));
  return compiled;
}

const PAGE = 64 * 1024;
/** The memory the QuickJS build starts with (16 MiB): the least a sandbox can have. */
const MIN_PAGES = 256;

const ENTRY_POINTS = ['load', 'match', 'validate', 'validateConfig', 'run', 'query', 'outcome'] as const;

/** Why a call that settled on nothing never will (it awaits what is not the host's). */
const NEVER_COMES = { run: "only kumo's own operations can be awaited in an app", query: "a shared function can await nothing of kumo's" };

/** What an app's top level may do of the host's: nothing (it runs once, for every cloud). */
const refuseAll: Operations = (op) => {
  throw new TypeError(`ctx.${op} is not available while the app loads`);
};

export class Sandbox {
  /** Calls under way, innermost last (a host operation may call into the sandbox again). */
  private readonly calls: Call[] = [];
  /** Rule runs take turns: each may wait on the host (queries cannot, and need no turn). */
  private turn: Promise<unknown> = Promise.resolve();
  /** Runs waiting on the host or for their turn: while there are any, a new run waits its turn. */
  private queued = 0;
  private disposed = false;

  private constructor(
    readonly rid: string,
    private readonly runtime: QuickJSRuntime,
    private readonly vm: QuickJSContext,
    private readonly entry: QuickJSHandle,
    private readonly limits: SandboxLimits,
  ) {
    for (const name of ENTRY_POINTS) this.fns.set(name, vm.getProp(entry, name));
  }

  /** The sandbox's entry points (sandbox-entry.ts), held once rather than looked up per call. */
  private readonly fns = new Map<string, QuickJSHandle>();

  /**
   * Start an engine, load the prelude and the app, and answer the app's description (JSON text).
   * An app that does not load (a syntax error, a throw at the top level, no ruleset exported) is
   * refused with the error it gave, as an Error.
   */
  static async create(code: SandboxCode, limits: SandboxLimits, loadMs: number): Promise<{ sandbox: Sandbox; description: string }> {
    // The engine's whole memory is a WebAssembly memory of its own that cannot grow past the limit:
    // QuickJS's own malloc limit does not count what this build allocates (strings, buffers).
    const base = (await import('@jitl/quickjs-wasmfile-release-sync')).default as unknown as QuickJSSyncVariant;
    const pages = Math.max(MIN_PAGES, Math.ceil(limits.memoryBytes / PAGE));
    const memory = new wasm.Memory({ initial: MIN_PAGES, maximum: pages });
    const module = await newQuickJSWASMModuleFromVariant(newVariant(base, { wasmMemory: memory as never, wasmModule: await quickjsWasm() }));
    const runtime = module.newRuntime();
    runtime.setMemoryLimit(limits.memoryBytes);
    runtime.setMaxStackSize(limits.stackBytes);
    const vm = runtime.newContext();
    let sandbox: Sandbox | undefined;
    try {
      vm.unwrapResult(vm.evalCode(code.prelude, 'kumo-prelude.js')).dispose();
      const entry = vm.getProp(vm.global, '__sandbox');
      sandbox = new Sandbox('(loading)', runtime, vm, entry, limits);
      sandbox.installHostFunctions(code.zod);
      // An app is an ES module, so strict code: writing to a frozen built-in throws instead of doing nothing.
      const wrapped = `(() => { 'use strict'; const module = { exports: {} }; const require = (name) => { if (name === 'kumo') return __kumo; throw new Error('an app may import only kumo, not ' + name); };\n${code.app}\nreturn module.exports; })()`;
      const description = sandbox.callSync('load', [], refuseAll, loadMs, wrapped);
      const rid = (JSON.parse(description) as { rid: string }).rid;
      Object.assign(sandbox, { rid });
      return { sandbox, description };
    } catch (err) {
      if (sandbox) sandbox.dispose();
      else {
        vm.dispose();
        runtime.dispose();
      }
      throw err;
    }
  }

  /** A call that must answer at once (a selector's match, a schema's check): JSON text in, JSON text out. */
  callSync(fn: string, args: ReadonlyArray<string | number>, ops: Operations, limitMs: number, source?: string): string {
    const call = this.newCall(ops, limitMs);
    this.calls.push(call);
    try {
      return this.textOf(call, () => {
        if (source === undefined) return this.invoke(fn, args);
        const exports = this.vm.evalCode(source, 'app.js');
        if (exports.error) return exports;
        const r = this.vm.callFunction(this.fns.get(fn)!, this.vm.undefined, exports.value);
        exports.value.dispose();
        return r;
      });
    } finally {
      this.calls.pop();
    }
  }

  /**
   * A rule run (`input`: sandbox-entry.ts `run`): it may wait on the host (a child being made), and
   * a run that waits holds the sandbox's queue, so runs take turns. Answers the run's value (JSON's),
   * at once when it waited on nothing, else a promise of it.
   */
  run(input: string, ops: Operations, limitMs: number): unknown {
    if (this.queued === 0) return this.held(this.call('run', input, ops, limitMs));
    this.queued++;
    const next = this.turn.then(() => this.call('run', input, ops, limitMs)).finally(() => this.queued--);
    this.turn = next.catch(() => undefined);
    return next;
  }

  /** A run that waits holds the turn until it settles. */
  private held(out: unknown): unknown {
    if (!(out instanceof Promise)) return out;
    this.queued++;
    this.turn = out.finally(() => this.queued--).catch(() => undefined);
    return out;
  }

  /**
   * A query (a shared function; `input`: sandbox-entry.ts `query`): its read context offers nothing
   * to await, so it ends within this call, and needs no turn: a rule of one app waiting on another's
   * function, while a rule of that other waits on the first's, cannot wait on each other.
   */
  query(input: string, ops: Operations, limitMs: number): unknown {
    return this.call('query', input, ops, limitMs);
  }

  /** Call the entry point `fn`, run the jobs it queued, and answer its value or a promise of it. */
  private call(fn: 'run' | 'query', input: string, ops: Operations, limitMs: number): unknown {
    const call = this.newCall(ops, limitMs);
    let result: { ok: boolean; value: unknown } | undefined;
    call.settle = (ok, value) => (result = { ok, value });
    this.calls.push(call);
    try {
      this.pump(
        call,
        this.textOf(call, () => this.invoke(fn, [input])),
      );
    } finally {
      this.calls.pop();
    }
    if (result) {
      if (!result.ok) throw this.failure(call, result.value);
      return result.value;
    }
    if (call.waiting === 0) throw new Error(`${this.rid} awaits something that never comes (${NEVER_COMES[fn]})`);
    return new Promise((resolve, reject) => {
      call.settle = (ok, value) => (ok ? resolve(value) : reject(this.failure(call, value)));
    });
  }

  /** Call the entry point `fn` with `args` (numbers and JSON text). */
  private invoke(fn: string, args: ReadonlyArray<string | number>): ReturnType<QuickJSContext['callFunction']> {
    const handles = args.map((a) => (typeof a === 'number' ? this.vm.newNumber(a) : this.vm.newString(a)));
    try {
      return this.vm.callFunction(this.fns.get(fn)!, this.vm.undefined, ...handles);
    } finally {
      for (const h of handles) h.dispose();
    }
  }

  /**
   * Run the jobs (promise reactions) the call's progress queued, within its time; then, if the app's
   * promise has settled, settle the call with its outcome (`text`, when the call answered it at once)
   * and the effects it queued.
   */
  private pump(call: Call, text = ''): void {
    if (this.runtime.hasPendingJob()) {
      this.enter(call, () => {
        const r = this.runtime.executePendingJobs();
        return r.error ? { error: r.error } : { value: this.vm.undefined };
      }).dispose();
    }
    if (!call.settle) return;
    if (text === '') text = this.textOf(call, () => this.invoke('outcome', []));
    if (text === '') return;
    const settle = call.settle;
    call.settle = undefined;
    try {
      const out = JSON.parse(this.checked('its answer', text)) as { ok: boolean; value?: unknown; error?: unknown; effects?: unknown[] };
      if (!out.ok) return settle(false, out.error);
      if (out.effects!.length > 0) call.ops('effects', out.effects!);
      settle(true, out.value);
    } catch (err) {
      settle(false, err);
    }
  }

  /** What `step` answers in the interpreter as `call` (a string), its handle let go. */
  private textOf(call: Call, step: Parameters<Sandbox['enter']>[1]): string {
    const handle = this.enter(call, step);
    try {
      return this.vm.getString(handle);
    } finally {
      handle.dispose();
    }
  }

  /** Run `step` in the interpreter as `call`, within the call's time left; turn what it threw into the host's error. */
  private enter(call: Call, step: () => { value: QuickJSHandle; error?: undefined } | { error: QuickJSHandle; value?: undefined }): QuickJSHandle {
    if (this.disposed) throw new Error(`the sandbox of ${this.rid} is closed`);
    const start = performance.now();
    call.deadline = start + call.budgetMs;
    let r;
    try {
      r = step();
    } finally {
      call.budgetMs -= performance.now() - start;
    }
    if (r.error) {
      const dumped: unknown = this.vm.dump(r.error);
      r.error.dispose();
      throw this.failure(call, dumped);
    }
    return r.value;
  }

  /** The host's error for what the app threw: a limit it reached, an error of the host's it let through, or its own. */
  private failure(call: Call, thrown: unknown): unknown {
    const e = (typeof thrown === 'object' && thrown !== null ? thrown : {}) as { name?: unknown; message?: unknown; hostError?: unknown };
    const message = typeof e.message === 'string' ? e.message : String(thrown);
    if (call.interrupted) return new AppLimitExceededError(this.rid, 'time', `${this.rid} ran longer than its ${call.limitMs} ms`, call.limitMs);
    if (thrown instanceof Error) return thrown; // the host's own, handing over the app's effects
    if (/out of memory/.test(message)) return new AppLimitExceededError(this.rid, 'memory', `${this.rid} ran out of its memory`);
    if ((e.name === 'RangeError' || e.name === 'InternalError') && /stack overflow|call stack/i.test(message)) return new AppLimitExceededError(this.rid, 'stack', `${this.rid} recursed deeper than its stack allows`);
    if (typeof e.hostError === 'number' && e.hostError < call.hostErrors.length) return call.hostErrors[e.hostError];
    return new Error(typeof e.name === 'string' && e.name !== 'Error' ? `${e.name}: ${message}` : message);
  }

  private newCall(ops: Operations, limitMs: number): Call {
    return { ops, deadline: 0, budgetMs: limitMs, limitMs, interrupted: false, hostErrors: [], waiting: 0 };
  }

  private current(): Call {
    const call = this.calls[this.calls.length - 1];
    if (!call) throw new Error('no call is under way');
    return call;
  }

  /** `__host(op, args)`, the app's one way out, `__zod()`, and the interrupt that ends a call past its time. */
  private installHostFunctions(zod: string): void {
    const { vm } = this;
    this.runtime.setInterruptHandler(() => {
      const call = this.calls[this.calls.length - 1];
      if (!call || performance.now() <= call.deadline) return false;
      call.interrupted = true;
      return true;
    });
    const host = vm.newFunction('__host', (opHandle, argsHandle) => {
      const call = this.current();
      const op = vm.getString(opHandle);
      try {
        const out = this.perform(call, op, vm.getString(argsHandle));
        if (!(out instanceof Promise)) return vm.newString(out === undefined ? '' : JSON.stringify(out));
        return this.later(call, out);
      } catch (err) {
        return { error: this.hostError(call, err) };
      }
    });
    vm.setProp(vm.global, '__host', host);
    host.dispose();
    // zod, run once when the app first reads `z`: its time is not the app's.
    const loadZod = vm.newFunction('__zod', () => {
      const call = this.current();
      const { deadline } = call;
      const start = performance.now();
      call.deadline = Infinity;
      const r = vm.evalCode(zod, 'zod.js');
      const spent = performance.now() - start;
      call.deadline = deadline + spent;
      call.budgetMs += spent;
      return r.error ? { error: r.error } : r.value;
    });
    vm.setProp(vm.global, '__zod', loadZod);
    loadZod.dispose();
  }

  /** Perform the app's operation `op` with its arguments (JSON text). */
  private perform(call: Call, op: string, text: string): unknown {
    const args = JSON.parse(this.checked(`ctx.${op}`, text)) as unknown;
    return call.ops(op, Array.isArray(args) ? args : []);
  }

  /** JSON text the app hands the host (`what`), within the bytes one call may hand over. */
  private checked(what: string, text: string): string {
    if (text.length > this.limits.callBytes) throw new PayloadTooLargeError(`${this.rid} handed ${what} ${text.length} bytes; an app may hand at most ${this.limits.callBytes} in one call`);
    return text;
  }

  /** A host operation's promise as a promise inside the app, settled (and its reactions run) when the host's settles. */
  private later(call: Call, out: Promise<unknown>): QuickJSHandle {
    const deferred = this.vm.newPromise();
    call.waiting++;
    const resume = (settle: () => void): void => {
      call.waiting--;
      if (this.disposed) return;
      this.calls.push(call);
      try {
        settle();
        deferred.dispose();
        this.pump(call);
        if (call.settle && call.waiting === 0) call.settle(false, { message: `${this.rid} awaits something that never comes` });
      } catch (err) {
        const settleCall = call.settle;
        call.settle = undefined;
        settleCall?.(false, err instanceof Error ? { message: err.message } : err);
      } finally {
        this.calls.pop();
      }
    };
    out.then(
      (v) =>
        resume(() => {
          const s = this.vm.newString(v === undefined ? '' : JSON.stringify(v));
          deferred.resolve(s);
          s.dispose();
        }),
      (err: unknown) =>
        resume(() => {
          const e = this.hostError(call, err);
          deferred.reject(e);
          e.dispose();
        }),
    );
    return deferred.handle;
  }

  /** An error of the host's as an error inside the app, marked so that the host knows it again if the app lets it through. */
  private hostError(call: Call, err: unknown): QuickJSHandle {
    const index = call.hostErrors.push(err) - 1;
    const kumo = err as Partial<KumoError>;
    const e = this.vm.newError({ name: typeof kumo.code === 'string' ? kumo.code : 'Error', message: err instanceof Error ? err.message : String(err) });
    const i = this.vm.newNumber(index);
    this.vm.setProp(e, 'hostError', i);
    i.dispose();
    if (typeof kumo.code === 'string') {
      const code = this.vm.newString(kumo.code);
      this.vm.setProp(e, 'code', code);
      code.dispose();
    }
    return e;
  }

  /** Memory the engine holds now (bytes). */
  memoryUsed(): number {
    const usage = this.runtime.computeMemoryUsage();
    const { memory_used_size } = this.vm.dump(usage) as { memory_used_size: number };
    usage.dispose();
    return memory_used_size;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const h of this.fns.values()) h.dispose();
    this.entry.dispose();
    this.vm.dispose();
    this.runtime.dispose();
  }
}
