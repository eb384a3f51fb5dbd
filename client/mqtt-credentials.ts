import { backoffDelay, DEFAULT_BACKOFF, type Backoff } from './backoff.ts';
import { asClientError, KumoClientError } from './errors.ts';
import { platformFetch, postJson, type Fetch } from './http-transport.ts';
import type { Timers } from './types.ts';

/** A device's MQTT credentials, as `POST /c/:eci/mqtt` answers (README, "MQTT devices"). */
export interface MqttCredentials {
  /** The MQTT listener, when the realm's operator told its hosts. */
  url?: string;
  username: string;
  /** A bearer JWT for this device's own topics; it stops working at `expires`. */
  password: string;
  /** Publish events here (`{domain}` and `{type}` filled in), attrs as a JSON object. */
  events: string;
  /** Subscribe here for pushes (the last level is the push's name). */
  pushes: string;
  /** When the password stops working (ms since the epoch). */
  expires: number;
}

const enc = encodeURIComponent;

/** The MQTT credentials of a device ECI, from a host of its realm. */
export async function mqttCredentials(url: string, eci: string, options: { fetch?: Fetch } = {}): Promise<MqttCredentials> {
  return (await postJson(options.fetch ?? platformFetch, url, `/c/${enc(eci)}/mqtt`, {})) as MqttCredentials;
}

export interface KeepOptions {
  fetch?: Fetch;
  timers?: Timers;
  now?: () => number;
  random?: () => number;
  backoff?: Partial<Backoff>;
  /** Renew once this share of a password's lifetime has passed (default 0.8). */
  renewAt?: number;
  /** Told when credentials could not be had (they are asked for again, with back-off); never for a refusal for good. */
  onError?: (err: KumoClientError) => void;
}

/**
 * Keep a device's MQTT credentials fresh: ask for them now, and again before each password
 * expires (at 80% of its lifetime), handing each to `use` (reconnect the MQTT client with it). A
 * failure worth retrying (the host unreachable or busy) is retried with jittered back-off; a
 * refusal for good (the ECI deleted, not a device ECI) stops, and is `stopped`'s answer.
 */
export function keepMqttCredentials(url: string, eci: string, use: (credentials: MqttCredentials) => void, options: KeepOptions = {}): { stop(): void; stopped: Promise<KumoClientError | null> } {
  const timers: Timers = options.timers ?? { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  const share = options.renewAt ?? 0.8;
  let timer: unknown = null;
  let done = false;
  const isDone = (): boolean => done; // read afresh after an await
  let finish!: (err: KumoClientError | null) => void;
  const stopped = new Promise<KumoClientError | null>((resolve) => (finish = resolve));
  const stop = (err: KumoClientError | null): void => {
    if (done) return;
    done = true;
    if (timer !== null) timers.clearTimeout(timer);
    finish(err);
  };
  const fetchOnce = async (attempt: number): Promise<void> => {
    timer = null;
    if (done) return;
    const asked = now();
    try {
      const credentials = await mqttCredentials(url, eci, options.fetch ? { fetch: options.fetch } : {});
      if (isDone()) return;
      use(credentials);
      const wait = Math.max(1000, (credentials.expires - asked) * share);
      timer = timers.setTimeout(() => void fetchOnce(0), wait);
    } catch (err) {
      const error = asClientError(err);
      // Refused for good: a client error of the host (4xx but a rate limit) will not change by asking again.
      if (error.status !== undefined && error.status >= 400 && error.status < 500 && error.status !== 429) return stop(error);
      options.onError?.(error);
      if (!isDone()) timer = timers.setTimeout(() => void fetchOnce(attempt + 1), backoffDelay(attempt, backoff, random));
    }
  };
  void fetchOnce(0);
  return { stop: () => stop(null), stopped };
}
