import { platformFetch, postJson, type Fetch } from './http-transport.ts';

/**
 * Trade a device's one-time claim code (from `kumo device add`) for its ECI, at the host at `url`.
 * Do it once and keep the ECI: the code works only once. Rejects with a KumoClientError:
 * `UNKNOWN_CLAIM_CODE` (wrong or used), `CLAIM_CODE_EXPIRED`, `RATE_LIMITED` (retry after
 * `details.retryAfter` seconds), or `DISCONNECTED` (the host could not be reached).
 */
export async function claim(url: string, code: string, options: { fetch?: Fetch } = {}): Promise<{ eci: string }> {
  return (await postJson(options.fetch ?? platformFetch, url, '/claim', { code })) as { eci: string };
}
