import { chmod, readFile, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { messageOf, type Ruleset } from '../kernel/index.ts';
import { openNode } from './open-node.ts';
import { baseUrl, type DestinationRules } from './providers/destinations.ts';
import type { RealmOptions } from './realm/realm.ts';
import { loadRulesets } from './load-rulesets.ts';
import type { AppSourceRules } from './apps/app-sources.ts';
import { startServer, type KumoServer } from './http/server.ts';
import type { HostKeyOptions } from './host-key.ts';

export interface ServeOptions {
  port: number;
  /** Interface to bind (default: all). */
  hostname?: string;
  dataDir: string;
  rulesetsDir?: string;
  /** fsync every commit. */
  sync?: boolean;
  /** Where the host key comes from (default: `<data>.key`, or the environment). */
  keys?: HostKeyOptions;
  /** The base URL at which other providers reach this host (links' `Tx_host`); default the URL it listens on. */
  publicUrl?: string;
  /** The hosts of other providers this host may send events to (default: any). */
  destinations?: DestinationRules;
  /** Where the apps owners install may come from (docs/apps.md). */
  appSources?: AppSourceRules;
  /** Connections served at once (lowered to what the open-file limit allows). */
  maxConnections?: number;
  /** Lines for the operator (stdout). */
  log?: (line: string) => void;
  /** This host's id (default: kept in the data directory). */
  hostId?: string;
  /** Join a realm of hosts over NATS. */
  realm?: RealmOptions;
  /** Told once the host was fenced by its realm (and has stopped): `kumo serve` exits then. */
  onFenced?: (reason: string) => void;
  /** Stop gracefully on SIGINT and SIGTERM (see {@link stopOnSignals}), from before it says it listens. */
  signals?: boolean;
}

/** The file holding the root cloud's owner ECI: beside the data directory (as its key file is), not in it. */
export const rootEciFile = (dataDir: string): string => `${resolve(dataDir)}.eci`;

/**
 * `kumo serve`: open the host on LevelDB under `dataDir` (joining its realm when given one), register
 * the rulesets in `rulesetsDir`, serve HTTP and WebSocket, and make sure the root cloud exists
 * (printing its owner ECI only when it is created). Prints `kumo listening on <url>` once ready.
 */
export async function serve(opts: ServeOptions): Promise<KumoServer> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const rulesets: Ruleset[] = [];
  if (opts.rulesetsDir) {
    for (const { ruleset, file } of await loadRulesets(opts.rulesetsDir)) {
      rulesets.push(ruleset);
      log(`kumo registered ruleset ${ruleset.rid}@${ruleset.version} from ${file}`);
    }
  }
  const url = opts.publicUrl === undefined ? undefined : baseUrl(opts.publicUrl);
  const { host, realm } = await openNode({
    dataDir: opts.dataDir,
    rulesets,
    ...(opts.sync ? { sync: true } : {}),
    ...(opts.keys ? { keys: opts.keys } : {}),
    ...(url ? { url } : {}),
    ...(opts.destinations ? { destinations: opts.destinations } : {}),
    ...(opts.appSources ? { apps: { sources: opts.appSources } } : {}),
    ...(opts.hostId ? { hostId: opts.hostId } : {}),
    ...(opts.realm ? { realm: opts.realm } : {}),
    onRealmTrouble: (err) => log(`kumo host could not rejoin its realm yet (its own clouds are served meanwhile; trying again): ${messageOf(err)}`),
  });
  // At once after a first join; a host that was in the realm before serves its own clouds first and joins in the background.
  void realm?.joined.then(
    () => {
      log(`kumo host ${host.id} joined realm ${realm.name} owning ${realm.partitions.length} partitions`);
      if (realm.devices) log(`kumo serves MQTT devices${realm.devices.signs ? ' and hands out their credentials' : ''}`);
    },
    () => undefined, // a host that stops first, or is fenced (said below)
  );
  let server: KumoServer;
  try {
    // The port first: a busy one stops the start before a root cloud is made (and its ECI printed).
    server = await startServer({ host, realm, port: opts.port, ...(opts.hostname ? { hostname: opts.hostname } : {}), ...(opts.maxConnections ? { limits: { connections: opts.maxConnections } } : {}) });
  } catch (err) {
    await realm?.stop();
    await host.close();
    await realm?.close();
    throw err;
  }
  try {
    const root = await host.root();
    const file = rootEciFile(opts.dataDir);
    // Where kumo kept it before its data directory was sealed: moved out, so the directory holds no ECI in the clear.
    await rename(join(opts.dataDir, 'root.eci'), file).catch(() => undefined);
    if (root.created) {
      log(`kumo created the root cloud; its owner ECI (shown once, kept in ${file}):`);
      log(`kumo root owner ECI ${root.eci}`);
    }
    // The operator's capability: readable by the operator only. Rewritten if it went missing.
    const onDisk = await readFile(file, 'utf8').catch(() => null);
    if (onDisk?.trim() !== root.eci) await writeFile(file, `${root.eci}\n`, { mode: 0o600 });
    await chmod(file, 0o600);
    host.url ??= server.url;
    await realm?.register({ url: server.url, since: Date.now() });
  } catch (err) {
    await server.stop();
    throw err;
  }
  host.start();
  // Another claim on what this host serves: refuse everything at once, say so, stop.
  void realm?.fenced.then(async (reason) => {
    host.fence(reason);
    log(`kumo host ${host.id} stops serving its realm ${realm.name}: ${reason}`);
    await server.stop().catch(() => undefined);
    opts.onFenced?.(reason);
  });
  // Before the line that says it is ready: a signal sent as soon as it is read stops the host gracefully.
  if (opts.signals) stopOnSignals(server, log);
  const { cap, fileLimit, reserved } = server.connections;
  log(`kumo serves at most ${cap} connections${fileLimit === undefined ? '' : ` (open files: limit ${fileLimit}, ${reserved} kept for the store and the process)`}`);
  log(`kumo listening on ${server.url}`);
  return server;
}

/** Stop `server` gracefully on the first SIGINT or SIGTERM; a second signal exits at once. */
export function stopOnSignals(server: KumoServer, log: (line: string) => void = (l) => console.log(l)): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log(`kumo: ${signal} again, exiting now`);
      process.exit(130);
    }
    stopping = true;
    log(`kumo: ${signal}, stopping: no new work, draining mailboxes, flushing commits`);
    server.stop().then(
      () => {
        log('kumo stopped');
        process.exit(0);
      },
      (err: unknown) => {
        console.error('kumo: error while stopping:', err);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
