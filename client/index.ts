/**
 * `kumo/client`: connect a device (or a web page) to its cloud, in Node 20+ and browsers. It imports
 * nothing of the kernel: it speaks the host's HTTP and WebSocket API.
 *
 * @example
 * import { claim, connect } from 'kumo/client';
 * const { eci } = await claim('http://localhost:3000', 'K3QM-9PAX-R2FB'); // once; keep the ECI
 * const kumo = connect('http://localhost:3000', eci);
 * kumo.on('alert', (data) => console.log('alert', data));
 * await kumo.event('sensor', 'reading', { temperature: 21.5 });
 */
export { connect, KumoClient, type ConnectOptions, type EventOptions } from './kumo-client.ts';
export { claim } from './claim.ts';
export { mqttCredentials, keepMqttCredentials, type MqttCredentials, type KeepOptions } from './mqtt-credentials.ts';
export { KumoClientError } from './errors.ts';
export { backoffDelay, DEFAULT_BACKOFF, type Backoff } from './backoff.ts';
export type { ConnectionState, Directive, EventResult, Push, Timers, WebSocketConstructor, WebSocketLike } from './types.ts';
