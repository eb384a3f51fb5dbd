import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { subscribe, type Host, type ObservedKind, type Observed } from '../../kernel/index.ts';

/**
 * Prometheus metrics of one host, on a registry of its own (two hosts in one process never mix):
 * fed by the kernel's diagnostics-channel events that name this host, and by the HTTP channel's
 * response counts. Exposition by prom-client.
 */

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/** The numbers behind `GET /metrics`. Call {@link Metrics.close} to unsubscribe. */
export class Metrics {
  readonly registry = new Registry();
  private readonly responses: Counter<'status'>;
  private readonly abortedRequests: Counter;
  private readonly stops: Array<() => void> = [];

  constructor(host: Host) {
    const registers = [this.registry];
    const counter = <L extends string>(name: string, help: string, labelNames: L[] = []) => new Counter<L>({ name, help, labelNames, registers });
    const histogram = (name: string, help: string, buckets: number[]) => new Histogram({ name, help, buckets, registers });
    const gauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    const on = <K extends ObservedKind>(kind: K, fn: (m: Observed<K>) => void): void => {
      this.stops.push(subscribe(kind, (m) => m.host === host.id && fn(m)));
    };

    const episodes = counter('kumo_episodes_total', 'Episodes finished, by outcome.', ['outcome']);
    const episodeErrors = counter('kumo_episode_errors_total', 'Failed episodes, by error code.', ['code']);
    const episodeSeconds = histogram('kumo_episode_duration_seconds', 'Episode latency, from mailbox start to commit.', LATENCY_BUCKETS);
    on('episode', (m) => {
      episodes.inc({ outcome: m.error ? 'error' : 'ok' });
      if (m.error) episodeErrors.inc({ code: m.error });
      episodeSeconds.observe(m.ms / 1000);
    });
    const queries = counter('kumo_queries_total', 'Queries run, by outcome.', ['outcome']);
    const queryErrors = counter('kumo_query_errors_total', 'Failed queries, by error code.', ['code']);
    const querySeconds = histogram('kumo_query_duration_seconds', 'Query latency.', LATENCY_BUCKETS);
    on('query', (m) => {
      queries.inc({ outcome: m.error ? 'error' : 'ok' });
      if (m.error) queryErrors.inc({ code: m.error });
      querySeconds.observe(m.ms / 1000);
    });
    const refusals = counter('kumo_refusals_total', 'Events and queries refused before any episode or function ran, by kind and code.', ['kind', 'code']);
    on('refusal', (m) => refusals.inc({ kind: m.kind, code: m.code }));
    const commitSeconds = histogram('kumo_commit_duration_seconds', 'Store batch write latency (group commit).', LATENCY_BUCKETS);
    const commitEpisodes = histogram('kumo_commit_batch_episodes', 'Episodes per store batch.', BATCH_BUCKETS);
    const commitOps = histogram('kumo_commit_batch_ops', 'Write operations per store batch.', BATCH_BUCKETS);
    on('commit', (m) => {
      commitSeconds.observe(m.ms / 1000);
      commitEpisodes.observe(m.episodes);
      commitOps.observe(m.ops);
    });
    const activations = counter('kumo_activations_total', 'Clouds loaded from the store.');
    on('activate', () => activations.inc());
    const evictions = counter('kumo_evictions_total', 'Clouds dropped from memory, by reason.', ['reason']);
    on('evict', (m) => evictions.inc({ reason: m.reason }));
    const schedules = counter('kumo_schedules_fired_total', 'Scheduled events sent.');
    on('schedule', () => schedules.inc());
    const retries = counter('kumo_outbox_retries_total', 'Outgoing events that will be tried again, by the code of the failed attempt.', ['code']);
    on('retry', (m) => retries.inc({ code: m.code }));
    const deadLetters = counter('kumo_dead_letters_total', 'Outgoing events that became dead letters, by reason code.', ['code']);
    on('deadLetter', (m) => deadLetters.inc({ code: m.code }));
    gauge('kumo_active_clouds', 'Clouds held in memory.', () => host.stats().activeClouds);
    gauge('kumo_mailbox_depth', 'Messages waiting or running in all mailboxes.', () => host.stats().mailboxDepth);
    gauge('kumo_outbox_pending', 'Outgoing events not yet delivered.', () => host.stats().outbox);
    gauge('kumo_clouds_held', 'Clouds on hold while they move or are exported to leave (work for them waits).', () => host.stats().held);
    this.responses = counter('kumo_http_responses_total', 'HTTP responses, by status.', ['status']);
    this.abortedRequests = counter('kumo_http_aborted_total', 'HTTP requests whose client went away before the answer.');
  }

  /** Report the connections a server holds (`kumo_connections`). */
  connections(open: () => number): void {
    new Gauge({
      name: 'kumo_connections',
      help: 'Client connections served (HTTP and WebSocket).',
      registers: [this.registry],
      collect() {
        this.set(open());
      },
    });
  }

  /** Count one HTTP response by status. */
  response(status: number): void {
    this.responses.inc({ status: String(status) });
  }

  /** Count one request whose client went away before it was answered. */
  aborted(): void {
    this.abortedRequests.inc();
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** Its content type. */
  get contentType(): string {
    return this.registry.contentType;
  }

  close(): void {
    for (const stop of this.stops) stop();
  }
}
