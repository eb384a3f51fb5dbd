/** Bounds the channels enforce on each client (docs/architecture.md, "Limits"); each breach has a clear error or close code. */
export interface ChannelLimits {
  /** Bytes of one request body or WebSocket frame. Over it: 413 PAYLOAD_TOO_LARGE (WebSocket: close 1009). */
  bodyBytes: number;
  /** Bytes of a cloud file sent to `/c/:eci/import`. Over it: 413 PAYLOAD_TOO_LARGE. */
  cloudFileBytes: number;
  /** Keys in a query string or urlencoded body. Over it: 400. */
  queryKeys: number;
  /** Bytes waiting to be sent to one WebSocket or log follower before it is closed as a slow consumer. */
  bufferedBytes: number;
  /** Requests one WebSocket may have running at once. Over it: LIMIT_EXCEEDED. */
  socketInflight: number;
  /**
   * Connections (HTTP and WebSocket) served at once; past it, 503 TOO_MANY_CONNECTIONS. Lowered
   * to what the open-file limit leaves once the store's descriptors are reserved.
   */
  connections: number;
  /** How long a keep-alive connection may wait idle for its next request. */
  idleMs: number;
  /** How long a client may take to send a request's headers (a new connection's first included): 408 REQUEST_TIMEOUT. */
  headersMs: number;
}

export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = {
  bodyBytes: 256 * 1024,
  cloudFileBytes: 256 * 1024 * 1024,
  queryKeys: 1000,
  bufferedBytes: 1024 * 1024,
  socketInflight: 256,
  connections: 10_000,
  idleMs: 5_000,
  headersMs: 10_000,
};
