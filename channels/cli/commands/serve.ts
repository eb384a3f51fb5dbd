import { readFile } from 'node:fs/promises';
import type { RealmOptions } from '../../realm/realm.ts';
import { serve } from '../../serve.ts';
import { countOption, duration, list, portOption, UsageError, type Command, type Values } from '../command.ts';
import type { CliIo } from '../command.ts';

/** `kumo serve`: run a host, alone or in a realm. */
export const serveCommand: Command = {
  name: 'serve',
  synopsis: `[--port 3000] [--host ADDR] [--data ./kumo-data] [--key-file FILE] [--rulesets DIR] [--sync] [--max-connections N]
             [--public-url URL] [--allow-hosts LIST] [--deny-hosts LIST]
             [--allow-app-hosts LIST] [--deny-app-hosts LIST] [--apps-folder DIR]
             [--nats nats://HOST:PORT[,…] [--realm NAME] [--host-id ID] [--nats-creds FILE]
              [--nats-ca FILE [--nats-cert FILE --nats-key FILE]] [--partitions N] [--replicas N]
              [--mqtt [--mqtt-key FILE] [--mqtt-account PUBKEY] [--mqtt-url URL] [--mqtt-lifetime 24h]]]`,
  args: 0,
  remote: false,
  help: `Run a host: LevelDB in the data directory (created 0700; one that others may read is refused), the
rulesets of DIR registered, HTTP and WebSocket on one port. On its first start it creates the root
cloud and prints its owner ECI once (also kept beside the data directory in <data>.eci, mode 0600).
Every record is sealed (docs/encryption.md) with keys kept in <data>/kumo.keyring, itself sealed by
the host key: $KUMO_HOST_KEY, else a key from $KUMO_HOST_PASSPHRASE, else the key file (made at the
first start). Keep a copy of the key elsewhere: without it the data cannot be read. Stops gracefully
on SIGINT or SIGTERM.

  --port N              the port (default $PORT or 3000; 0 picks a free one)
  --host ADDR           the interface to bind (default: all; 127.0.0.1 keeps it local)
  --data DIR            the data directory (default $KUMO_DATA or ./kumo-data)
  --key-file FILE       the host key file (default <data>.key, beside the directory)
  --rulesets DIR        import every .ts/.js file in DIR and register the rulesets it exports;
                        they may import { ruleset, z } from 'kumo'
  --sync                fsync every commit (survives power loss, not only a crash)
  --max-connections N   connections served at once (default 10000, lowered to what the
                        open-file limit allows)
  --public-url URL      the base URL other providers reach this host at (default: where it listens)
  --allow-hosts LIST    the hosts of other providers this host may send events to (host, host:port,
  --deny-hosts LIST     *.domain or *, comma-separated); deny wins
  --allow-app-hosts LIST  the hosts owners may install apps from by URL (docs/apps.md; default any
  --deny-app-hosts LIST   public host; an address of this machine's networks only if named here)
  --apps-folder DIR     a folder whose files owners may install as apps by file: URL

In a realm (README, "A realm of hosts"): the data directory is bound to its realm and host id at
the first join; started with another --realm or --host-id, the host refuses to start.

  --nats URLS           join the realm on these NATS servers (or $KUMO_NATS)
  --realm NAME          the realm's name (default kumo)
  --host-id ID          this host's id in the realm (default: made at first start, kept in the data)
  --nats-creds FILE     a NATS credentials file
  --nats-ca FILE        TLS to NATS, the servers' certificates verified against this certificate
                        authority (PEM); a tls:// URL asks for TLS with the system's authorities
  --nats-cert FILE      this host's certificate and key (PEM), for servers that ask for one
  --nats-key FILE
  --partitions N        partitions to claim when first joining (default 64)
  --replicas N          replicas of the realm's streams and bucket (3 on a three-node cluster)

and MQTT devices (README, "MQTT devices"):

  --mqtt                apply devices' events from the realm's device stream, push to devices
  --mqtt-key FILE       and hand out device credentials (POST /c/:eci/mqtt), signed with this
                        seed of the realm account (or one of its signing keys)
  --mqtt-account KEY    the realm account's public key, when --mqtt-key is a signing key
  --mqtt-url URL        the MQTT listener devices connect to, told to them with their credentials
  --mqtt-lifetime 24h   how long device credentials last (30m, 24h, 7d); devices renew them before
                        (kumo/client's keepMqttCredentials does)`,
  async run(ctx) {
    const { v, io, dataDir } = ctx;
    const port = portOption('--port', v.port ?? io.env['PORT'] ?? '3000', true);
    const maxConnections = v['max-connections'] === undefined ? undefined : countOption('--max-connections', v['max-connections'], 1, 10_000_000);
    const log = (line: string): void => io.out(line + '\n');
    const realm = await realmOptions(v, io);
    const allow = v['allow-hosts'] === undefined ? undefined : list(v['allow-hosts']);
    const deny = v['deny-hosts'] === undefined ? undefined : list(v['deny-hosts']);
    const allowApps = v['allow-app-hosts'] === undefined ? undefined : list(v['allow-app-hosts']);
    const denyApps = v['deny-app-hosts'] === undefined ? undefined : list(v['deny-app-hosts']);
    await serve({
      port,
      dataDir,
      log,
      ...(v.host ? { hostname: v.host } : {}),
      ...(v.rulesets ? { rulesetsDir: v.rulesets } : {}),
      ...(v.sync ? { sync: true } : {}),
      keys: { env: io.env, ...(v['key-file'] ? { keyFile: v['key-file'] } : {}) },
      ...(v['host-id'] ? { hostId: v['host-id'] } : {}),
      ...(realm ? { realm } : {}),
      ...(v['public-url'] ? { publicUrl: v['public-url'] } : {}),
      ...(allow || deny ? { destinations: { ...(allow ? { allow } : {}), ...(deny ? { deny } : {}) } } : {}),
      ...(maxConnections ? { maxConnections } : {}),
      appSources: { ...(allowApps ? { allow: allowApps } : {}), ...(denyApps ? { deny: denyApps } : {}), ...(v['apps-folder'] ? { folder: v['apps-folder'] } : {}) },
      onFenced: (reason) => {
        io.err(`kumo: ${reason}\n`);
        process.exit(1);
      },
      signals: true,
    });
  },
};

/** The realm to join, from `--nats` (or `$KUMO_NATS`) and its companions; none without them. */
async function realmOptions(v: Values, io: CliIo): Promise<RealmOptions | undefined> {
  const nats = v.nats ?? io.env['KUMO_NATS'];
  if (!nats) {
    for (const flag of ['realm', 'nats-creds', 'nats-ca', 'nats-cert', 'nats-key', 'partitions', 'replicas', 'mqtt', 'mqtt-key', 'mqtt-account', 'mqtt-url', 'mqtt-lifetime'] as const)
      if (v[flag] !== undefined) throw new UsageError(`--${flag} needs --nats`);
    return undefined;
  }
  const partitions = v.partitions === undefined ? undefined : countOption('--partitions', v.partitions, 1, 4096);
  const replicas = v.replicas === undefined ? undefined : countOption('--replicas', v.replicas, 1, 5);
  const mqtt = v.mqtt || v['mqtt-key'] !== undefined || v['mqtt-url'] !== undefined || v['mqtt-account'] !== undefined || v['mqtt-lifetime'] !== undefined;
  if ((v['nats-cert'] === undefined) !== (v['nats-key'] === undefined)) throw new UsageError('--nats-cert and --nats-key go together');
  const pem = async (flag: 'nats-ca' | 'nats-cert' | 'nats-key') => (v[flag] === undefined ? {} : { [flag.slice(5)]: await readFile(v[flag], 'utf8') });
  const tls = { ...(await pem('nats-ca')), ...(await pem('nats-cert')), ...(await pem('nats-key')) };
  const lifetimeMs = v['mqtt-lifetime'] === undefined ? undefined : duration(v['mqtt-lifetime'], '--mqtt-lifetime');
  if (lifetimeMs !== undefined && (lifetimeMs < 1000 || lifetimeMs > 366 * 86_400_000)) throw new UsageError('--mqtt-lifetime must be from 1 s to a year');
  return {
    servers: list(nats),
    ...(v.realm ? { realm: v.realm } : {}),
    ...(v['nats-creds'] ? { creds: await readFile(v['nats-creds']) } : {}),
    ...(Object.keys(tls).length > 0 ? { tls } : {}),
    ...(partitions ? { partitions } : {}),
    ...(replicas ? { replicas } : {}),
    ...(mqtt
      ? {
          mqtt: {
            ...(v['mqtt-key'] ? { key: await readFile(v['mqtt-key'], 'utf8') } : {}),
            ...(v['mqtt-account'] ? { account: v['mqtt-account'] } : {}),
            ...(v['mqtt-url'] ? { url: v['mqtt-url'] } : {}),
            ...(lifetimeMs !== undefined ? { lifetimeMs } : {}),
          },
        }
      : {}),
  };
}
