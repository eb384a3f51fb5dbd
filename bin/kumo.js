#!/usr/bin/env node
// The installed `kumo` command. kumo is TypeScript run by tsx (no build step): register tsx's
// loader, then hand over to the CLI.
import { register } from 'tsx/esm/api';

register();
await import('../channels/cli/main.ts');
