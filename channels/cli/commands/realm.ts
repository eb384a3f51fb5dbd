import { countOption, portOption, UsageError, type Command } from '../command.ts';
import { table } from '../format.ts';
import { realmUp } from '../realm-up.ts';

/** The realm: who is in it, and a realm on this machine to try one. */
export const realmCommands: Command[] = [
  {
    name: 'realm',
    summary: 'the realm of the --url host: its hosts and partitions',
    args: 0,
    help: 'Show the realm of the --url host: its name, the hosts it knows (id, URL) and how many partitions this host owns.',
    async run(ctx) {
      const r = (await ctx.client.realm()) as { host: string; realm: string | null; partitions?: number[]; hosts?: Array<{ id: string; url?: string }> };
      if (!r.realm) return ctx.print(r, `host ${r.host} runs alone (no realm)`);
      const rows = (r.hosts ?? []).map((h) => [h.id, h.url ?? '', h.id === r.host ? `${r.partitions?.length ?? 0} (this host)` : '']);
      ctx.print(r, `realm ${r.realm}\n${table(['HOST', 'URL', 'PARTITIONS'], rows)}`);
    },
  },
  {
    name: 'realm up',
    synopsis: '[--hosts 3] [--dir ./kumo-realm] [--port 3001] [--nats-port 4333] [--rulesets DIR] [--mqtt [--mqtt-port 1883]]',
    summary: 'nats-server and N hosts on this machine, to try a realm',
    args: 0,
    remote: false,
    help: `Start nats-server (JetStream) and N kumo hosts joined to it as one realm, on this machine, each
with its own data directory under --dir; Ctrl-C stops the hosts, then nats-server. A way to try a
realm; in production each host runs kumo serve --nats on its own machine.

  --hosts N             how many hosts (default 3, at most 20)
  --dir DIR             where their data directories and nats-server's store go (default ./kumo-realm)
  --port N              the first host's port; the others follow (default 3001)
  --nats-port N         nats-server's client port (default 4333)
  --rulesets DIR        the rulesets every host registers
  --mqtt                nats-server's MQTT listener too, for devices (--mqtt-port, default 1883)`,
    async run(ctx) {
      const { v, io } = ctx;
      const hosts = countOption('--hosts', v.hosts ?? '3', 1, 20);
      const port = portOption('--port', v.port ?? '3001');
      if (port + hosts > 65535) throw new UsageError('--port leaves no room for the hosts after it');
      const natsPort = portOption('--nats-port', v['nats-port'] ?? '4333');
      const mqttPort = v.mqtt || v['mqtt-port'] !== undefined ? portOption('--mqtt-port', v['mqtt-port'] ?? '1883') : undefined;
      const log = (line: string): void => io.out(line + '\n');
      const realm = await realmUp({ hosts, port, natsPort, dir: v.dir ?? './kumo-realm', log, ...(v.rulesets ? { rulesetsDir: v.rulesets } : {}), ...(mqttPort !== undefined ? { mqttPort } : {}) });
      log(`kumo realm up: ${realm.urls.join(' ')} (Ctrl-C stops it)`);
      let stopping = false;
      const onSignal = (): void => {
        if (stopping) process.exit(130);
        stopping = true;
        log('kumo realm: stopping the hosts, then nats-server');
        void realm.stop().then(() => process.exit(0));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    },
  },
];
