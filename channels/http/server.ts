import { createServer, type Server } from 'node:http';
import { Server as NetServer, type AddressInfo } from 'node:net';
import type { Host } from '../../kernel/index.ts';
import { HttpApi } from './api.ts';
import { DEFAULT_CHANNEL_LIMITS, type ChannelLimits } from './limits.ts';
import { connectionCap, limitConnections, openFileLimit } from './connection-limits.ts';
import { Metrics } from './metrics.ts';
import type { Realm } from '../realm/realm.ts';
import { StartError } from '../start-error.ts';
import { attachWsChannel } from './websocket.ts';

export interface ServerOptions {
  host: Host;
  /** 0 picks a free port. */
  port: number;
  /** Interface to bind; default all. */
  hostname?: string;
  limits?: Partial<ChannelLimits>;
  /** The process's open-file limit; default: read from the system (undefined where it cannot be). */
  fileLimit?: number;
  /** The host's realm, stopped before the host closes and closed after it. */
  realm?: Realm | null;
}

/** A running HTTP + WebSocket server for one host. */
export interface KumoServer {
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  /** Connections served at once, and the open-file limit and reserve it was derived from. */
  readonly connections: { cap: number; fileLimit: number | undefined; reserved: number };
  /**
   * Graceful stop: accept no new connections or work, let running requests answer (their
   * episodes commit first), then close the host (mailboxes drained, commits flushed, store closed).
   */
  stop(): Promise<void>;
}

/** Start the sky API and the WebSocket channel on one port, in front of `host`. */
export async function startServer(opts: ServerOptions): Promise<KumoServer> {
  const { host } = opts;
  const limits = { ...DEFAULT_CHANNEL_LIMITS, ...opts.limits };
  const fileLimit = 'fileLimit' in opts ? opts.fileLimit : openFileLimit();
  const { cap, reserved } = connectionCap(limits.connections, fileLimit);
  const metrics = new Metrics(host);
  // Node checks header and request deadlines on this interval (30 s by default, too coarse).
  const server = createServer({ connectionsCheckingInterval: Math.min(1_000, Math.max(50, limits.headersMs / 4)) });
  const gate = limitConnections(server, cap);
  metrics.connections(() => gate.open);
  const api = new HttpApi({ host, metrics, limits, gate, realm: opts.realm ?? null });
  server.on('request', api.handle);
  server.on('clientError', api.clientError);
  // A client that opens a socket and never finishes its request must not hold the host forever.
  server.headersTimeout = limits.headersMs;
  server.requestTimeout = Math.max(60_000, limits.headersMs);
  server.keepAliveTimeout = limits.idleMs;
  const ws = attachWsChannel(server, { host, limits, gate });
  await new Promise<void>((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException): void =>
      reject(err.code === 'EADDRINUSE' ? new StartError('PORT_IN_USE', `port ${opts.port} is in use (another kumo host, or another program); choose another with --port`, { cause: err }) : err);
    server.once('error', failed);
    server.listen(opts.port, opts.hostname, () => {
      server.off('error', failed);
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
    connections: { cap, fileLimit, reserved },
    stop() {
      stopping ??= (async () => {
        // Stop listening, and only that: http.Server#close would also drop idle keep-alive
        // connections now, and a request a client sends on one during the stop would meet a reset.
        // Instead every request from now on is answered (503 SHUTTING_DOWN once the API stops
        // taking work) with `connection: close`.
        const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
        // Moves not yet decided give up first: a request waiting for one is answered, not kept.
        opts.realm?.interrupt();
        await Promise.all([api.stop(), ws.stop()]);
        await opts.realm?.stop();
        await host.close();
        await opts.realm?.close();
        metrics.close();
        // Every running request has its answer written by now (or was refused with 503). Let those
        // bytes leave before dropping connections: destroying a socket discards unsent data.
        server.closeIdleConnections();
        const sweep = setInterval(() => server.closeIdleConnections(), 20);
        const grace = new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref());
        await Promise.race([closed, grace]);
        clearInterval(sweep);
        server.closeAllConnections();
        server.close(() => undefined); // stops Node's deadline checks; the listener is already closed
        await closed;
      })();
      return stopping;
    },
  };
}
