import { onCleanup } from './helpers.ts';
import { startNatsSystem, type NatsOptions, type NatsSystem } from './nats-servers.ts';

/** Real nats-server processes for realm tests (see nats-servers.ts), stopped and removed after the test. */

export { freePort, freePortRun, requireNatsServer, type NatsNode, type NatsOptions, type NatsSystem } from './nats-servers.ts';

/** Start nats-server (or a cluster of them) with JetStream on free ports, for the current test. */
export function startNats(opts: NatsOptions = {}): Promise<NatsSystem> {
  return startNatsSystem(opts, onCleanup);
}
