import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

/**
 * How many client connections one host holds, so that a flood of connections can never take the
 * file descriptors its store needs: with every descriptor held by a socket, LevelDB cannot open
 * its next log or table file and every commit fails.
 *
 * Measured on Linux (README, "Connections"): node with tsx holds 28 descriptors, the open store 4
 * more (LOCK, LOG, the write-ahead log, MANIFEST) and a few while it compacts; writing and reading
 * 58 MB in 27 table files added none, because LevelDB maps up to 1000 table files into memory and
 * closes their descriptors. Past 1000 table files it keeps descriptors open, up to a fifth of the
 * process's limit (its own rule), so that fifth is reserved too.
 */

/** Descriptors kept for the process, the store's own files, compactions and outgoing connections. */
export const RESERVED_FDS = 128;
/** Connections over the cap that are still answered 503 (beyond them, Node drops new sockets at once). */
export const REFUSING_SLOTS = 64;
/** How long a refused connection may take to send the request its 503 answers. */
const REFUSE_MS = 2_000;

/** The soft limit on open files (`ulimit -n`), read from /proc/self/limits; undefined where it cannot be read. */
export function openFileLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  let text: string;
  try {
    text = read();
  } catch {
    return undefined;
  }
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(text);
  if (!m) return undefined;
  return m[1] === 'unlimited' ? Infinity : Number(m[1]);
}

/**
 * The connections a host may hold: `configured`, but never more than the open-file limit leaves
 * once the store's and the process's descriptors are reserved (and the refusing slots). Where the
 * limit is unknown or unlimited, `configured` as it is.
 */
export function connectionCap(configured: number, fileLimit: number | undefined): { cap: number; reserved: number } {
  if (fileLimit === undefined || !Number.isFinite(fileLimit)) return { cap: configured, reserved: 0 };
  const reserved = RESERVED_FDS + Math.floor(fileLimit / 5) + REFUSING_SLOTS;
  return { cap: Math.max(1, Math.min(configured, fileLimit - reserved)), reserved };
}

/** Which sockets a server refuses. */
export interface ConnectionGate {
  readonly cap: number;
  /** Connections being served. */
  readonly open: number;
  /** Is this socket over the cap (to be answered 503 TOO_MANY_CONNECTIONS and closed)? */
  refuses(socket: Socket): boolean;
}

/**
 * Hold at most `cap` connections on `server` (HTTP and WebSocket alike). A connection past the cap
 * is accepted only to be answered 503 TOO_MANY_CONNECTIONS on its first request and closed (it
 * gets {@link REFUSE_MS} to send one); past {@link REFUSING_SLOTS} of those, Node drops new sockets
 * at once. So the server never holds more than `cap + REFUSING_SLOTS` sockets.
 */
export function limitConnections(server: Server, cap: number): ConnectionGate {
  let open = 0;
  const refused = new WeakSet<Socket>();
  server.maxConnections = cap + REFUSING_SLOTS;
  // Before the HTTP parser sees the socket.
  server.prependListener('connection', (socket: Socket) => {
    if (open < cap) {
      open++;
      socket.once('close', () => open--);
      return;
    }
    refused.add(socket);
    socket.setTimeout(REFUSE_MS, () => socket.destroy());
  });
  return {
    cap,
    get open() {
      return open;
    },
    refuses: (socket) => refused.has(socket),
  };
}
