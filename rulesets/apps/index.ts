import { InvalidAppError, KumoError, messageOf, type Ruleset } from '../../kernel/index.ts';
import { appRuleset } from './app-ruleset.ts';
import { compileApp, preludeCode } from './compile.ts';
import { Sandbox, type SandboxLimits } from './sandbox.ts';

/** The limits of an app's sandbox and of each call into it (docs/apps.md, "Limits"). */
export interface AppLimits extends SandboxLimits {
  /** Longest one rule run, selector, schema check or query may run inside the sandbox (ms). */
  callMs: number;
}

export const DEFAULT_APP_LIMITS: AppLimits = {
  memoryBytes: 32 * 1024 * 1024,
  stackBytes: 256 * 1024,
  callBytes: 256 * 1024,
  callMs: 200,
};

/**
 * Start an app from its source: compile it, load it into a sandbox of its own, and answer the
 * kernel's ruleset for it. What is not an app is refused with INVALID_APP saying why.
 */
export async function loadApp(source: string, limits: AppLimits = DEFAULT_APP_LIMITS): Promise<Ruleset> {
  const [prelude, app] = await Promise.all([preludeCode(), compileApp(source)]);
  let made;
  try {
    made = await Sandbox.create({ ...prelude, app }, limits, limits.callMs * 5);
  } catch (err) {
    if (err instanceof KumoError) throw err;
    throw new InvalidAppError(`the app does not load: ${messageOf(err)}`);
  }
  try {
    return appRuleset(made.sandbox, made.description, limits.callMs);
  } catch (err) {
    made.sandbox.dispose();
    throw err;
  }
}

export { preludeCode };
