/** Bounds the channels enforce on each client (DESIGN §3.7); each breach has a clear error or close code. */
export interface ChannelLimits {
  /** Bytes of one request body or WebSocket frame. Over it: 413 PAYLOAD_TOO_LARGE (WebSocket: close 1009). */
  bodyBytes: number;
  /** Keys in a query string or urlencoded body. Over it: 400. */
  queryKeys: number;
  /** Bytes waiting to be sent to one WebSocket or log follower before it is closed as a slow consumer. */
  bufferedBytes: number;
  /** Requests one WebSocket may have running at once. Over it: LIMIT_EXCEEDED. */
  socketInflight: number;
}

export const DEFAULT_CHANNEL_LIMITS: ChannelLimits = {
  bodyBytes: 256 * 1024,
  queryKeys: 1000,
  bufferedBytes: 1024 * 1024,
  socketInflight: 256,
};
