import type { Command } from '../command.ts';
import { cloudCommands } from './clouds.ts';
import { consoleCommands } from './console.ts';
import { deviceCommands } from './devices.ts';
import { eciCommands } from './ecis.ts';
import { keyCommands } from './keys.ts';
import { logCommands } from './logs.ts';
import { messageCommands } from './messages.ts';
import { realmCommands } from './realm.ts';
import { rulesetCommands } from './rulesets.ts';
import { serveCommand } from './serve.ts';

/** Every command of the CLI, in the order the usage lists them. */
export const COMMANDS: readonly Command[] = [serveCommand, ...cloudCommands, ...eciCommands, ...rulesetCommands, ...messageCommands, ...logCommands, ...realmCommands, ...deviceCommands, ...consoleCommands, ...keyCommands];
