import { InvalidArgsError, UnknownClaimCodeError, UnknownEciError } from '../errors.ts';
import type { EpisodeLogEntry } from '../store/keys.ts';
import type { Answer, Op, PushMessage, RequestOf } from './request.ts';

/**
 * The kernel's one seam to other hosts: what only a transport can do (docs/realm.md). A host hands
 * its router the requests it cannot run itself (their ECI is not in its index, or the realm runs
 * them: a move, an adoption) and the streams that cross hosts (pushes, followed logs). The router
 * finds the host and carries the request value there, where that host runs it. It rejects with
 * UNKNOWN_ECI when no host has the ECI, and with a KumoError of its own code when the other host
 * cannot be reached or did not answer (never a hang).
 *
 * The kernel never imports a transport: a realm (NATS) implements this in `channels/`.
 */
export interface Router {
  /** Run `request` on the host that has its ECI (or, for the realm's own operations, where the realm runs them); its answer. */
  forward<K extends Op>(request: RequestOf<K>): Promise<Answer<K>>;
  /** Follow the episode log of the cloud behind an ECI of another host. Resolves to the function that stops. */
  follow(eci: string, fn: (entry: EpisodeLogEntry) => void): Promise<() => void>;
  /** Hear what rules on other hosts push to `eci`. Returns the function that stops. */
  listen(eci: string, fn: (m: PushMessage) => void): () => void;
  /** Offer a push made on this host to listeners on other hosts. */
  publish(m: PushMessage): void;
}

/** The router of a host alone: every ECI it does not have is unknown, and there is no other host. */
export const aloneRouter: Router = {
  forward<K extends Op>(request: RequestOf<K>): Promise<Answer<K>> {
    switch (request.op) {
      case 'adopt':
        return Promise.resolve(undefined as Answer<K>);
      case 'claim':
        return Promise.reject(new UnknownClaimCodeError());
      case 'move':
        return Promise.reject(new InvalidArgsError('this host is not in a realm: there is no other host to move a cloud to (export it to a file instead)'));
      default:
        return Promise.reject(new UnknownEciError('eci' in request ? request.eci : ''));
    }
  },
  follow: (eci) => Promise.reject(new UnknownEciError(eci)),
  listen: () => () => undefined,
  publish: () => undefined,
};
