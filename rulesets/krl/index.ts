/**
 * KRL, the pico engine's rule language, as kumo apps (docs/krl.md): a ruleset's source compiled
 * into the kernel's ruleset model, installed through the apps' path.
 */
export { compileKrl } from './krl-ruleset.ts';
export { isKrl, parse } from './parse.ts';
export { DEFAULT_KRL_LIMITS, type KrlLimits } from './runtime.ts';
