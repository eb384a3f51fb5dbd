import { DestinationDeniedError } from '../errors.ts';
import type { RoutedEvent } from '../requests/request.ts';

/**
 * How a host reaches clouds at other providers: hosts that share nothing with it, not even a
 * realm, addressed by base URL (the pico engine's `Tx_host`). An event a rule sends with a host
 * goes through the outbox like any other (durable, retried, else a dead letter) and is handed here
 * instead of to the router.
 *
 * The kernel never imports a transport: `channels/http-remote.ts` implements this over HTTPS, with
 * the operator's list of the destinations this host may send to.
 */
export interface Remote {
  /**
   * The destination as the outbox keeps it (a normalised base URL), or a refusal: DESTINATION_DENIED
   * when the operator does not allow it, INVALID_ARGS when it is no base URL. Called when a rule
   * stages the event, so the rule fails at once rather than leaving a dead letter.
   */
  destination(url: string): string;
  /**
   * Hand an event to an ECI at the host at `url`. Resolves once that host has taken it. Rejects with
   * a KumoError: a status of 503 and above is worth another try (unreachable, busy); any other (the
   * ECI is unknown there, its policy refuses, the destination is no longer allowed) never will be.
   */
  deliver(url: string, routed: RoutedEvent): Promise<void>;
}

/** The remote of a host that reaches no other provider. */
export const noRemote: Remote = {
  destination(url) {
    throw new DestinationDeniedError(url, `this host reaches no other provider (asked for ${url})`);
  },
  deliver(url) {
    return Promise.reject(new DestinationDeniedError(url, `this host reaches no other provider (asked for ${url})`));
  },
};
