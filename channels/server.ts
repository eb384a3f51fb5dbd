import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Host } from '../kernel/index.ts';
import { HttpApi } from './http-routes.ts';
import type { ChannelLimits } from './channel-limits.ts';
import type { Realm } from './realm/realm.ts';
import { Metrics } from './metrics.ts';
import { attachWsChannel } from './ws-channel.ts';

export interface ServerOptions {
  host: Host;
  /** 0 picks a free port. */
  port: number;
  /** Interface to bind; default all. */
  hostname?: string;
  limits?: Partial<ChannelLimits>;
  /** The host's realm, stopped before the host closes and closed after it. */
  realm?: Realm | null;
}

/** A running HTTP + WebSocket server for one host. */
export interface KumoServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  /**
   * Graceful stop: accept no new connections or work, let running requests answer (their
   * episodes commit first), then close the host (mailboxes drained, commits flushed, store closed).
   */
  stop(): Promise<void>;
}

/** Start the sky API and the WebSocket channel on one port, in front of `host`. */
export async function startServer(opts: ServerOptions): Promise<KumoServer> {
  const { host } = opts;
  const metrics = new Metrics(host);
  const api = new HttpApi({ host, metrics, realm: opts.realm ?? null, ...(opts.limits ? { limits: opts.limits } : {}) });
  const server = createServer(api.handle);
  // A client that opens a socket and never finishes its request must not hold the host forever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;
  const ws = attachWsChannel(server, { host, ...(opts.limits ? { limits: opts.limits } : {}) });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.hostname, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shown = !opts.hostname || opts.hostname === '0.0.0.0' || opts.hostname === '::' ? 'localhost' : opts.hostname;
  let stopping: Promise<void> | null = null;
  return {
    server,
    port,
    url: `http://${shown.includes(':') ? `[${shown}]` : shown}:${port}`,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await Promise.all([api.stop(), ws.stop()]);
        await opts.realm?.stop();
        await host.close();
        await opts.realm?.close();
        metrics.close();
        // Every running request has its answer written by now (or was refused with 503). Let those
        // bytes leave before dropping connections: destroying a socket discards unsent data.
        const sweep = setInterval(() => server.closeIdleConnections(), 20);
        const grace = new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref());
        await Promise.race([closed, grace]);
        clearInterval(sweep);
        server.closeAllConnections();
        await closed;
      })();
      return stopping;
    },
  };
}
