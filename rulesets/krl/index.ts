/**
 * KRL, the pico engine's rule language, as kumo apps (docs/krl.md): a ruleset's source compiled
 * into the kernel's ruleset model, installed through the apps' path.
 */
export { compileKrl, isKrl, parse } from './krl-ruleset.ts';
export { DEFAULT_KRL_LIMITS, type KrlLimits } from './runtime.ts';
