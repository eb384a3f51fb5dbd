import { subscribe, type Host } from '../kernel/index.ts';

/**
 * Prometheus metrics for one host, fed by the kernel's diagnostics-channel events and by the HTTP
 * channel's response counts. Text exposition format 0.0.4, written by hand (no client library).
 */

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

class Histogram {
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(readonly buckets: number[]) {
    this.counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) this.counts[i]!++;
  }

  lines(name: string, labels = ''): string[] {
    const sep = labels ? `${labels},` : '';
    const out = this.buckets.map((b, i) => `${name}_bucket{${sep}le="${b}"} ${this.counts[i]}`);
    out.push(`${name}_bucket{${sep}le="+Inf"} ${this.count}`);
    const braces = labels ? `{${labels}}` : '';
    out.push(`${name}_sum${braces} ${this.sum}`, `${name}_count${braces} ${this.count}`);
    return out;
  }
}

/** A counter keyed by one label value. */
class LabelledCounter {
  readonly values = new Map<string, number>();
  inc(label: string, by = 1): void {
    this.values.set(label, (this.values.get(label) ?? 0) + by);
  }
  lines(name: string, label: string): string[] {
    return [...this.values].map(([v, n]) => `${name}{${label}="${escapeLabel(v)}"} ${n}`);
  }
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** Collects the numbers behind `GET /metrics`. Call {@link Metrics.close} to unsubscribe. */
export class Metrics {
  private readonly episodes = new LabelledCounter();
  private readonly episodeErrors = new LabelledCounter();
  private readonly queries = new LabelledCounter();
  private readonly queryErrors = new LabelledCounter();
  private readonly evictions = new LabelledCounter();
  private readonly responses = new LabelledCounter();
  private readonly episodeSeconds = new Histogram(LATENCY_BUCKETS);
  private readonly querySeconds = new Histogram(LATENCY_BUCKETS);
  private readonly commitSeconds = new Histogram(LATENCY_BUCKETS);
  private readonly commitEpisodes = new Histogram(BATCH_BUCKETS);
  private readonly commitOps = new Histogram(BATCH_BUCKETS);
  private activations = 0;
  private schedules = 0;
  private readonly stops: Array<() => void>;

  constructor(private readonly host: Host) {
    // Kernel events are process-wide and do not name their host: one process serves one host.
    this.stops = [
      subscribe('episode', (m) => {
        this.episodes.inc(m.error ? 'error' : 'ok');
        if (m.error) this.episodeErrors.inc(m.error);
        this.episodeSeconds.observe(m.ms / 1000);
      }),
      subscribe('query', (m) => {
        this.queries.inc(m.error ? 'error' : 'ok');
        if (m.error) this.queryErrors.inc(m.error);
        this.querySeconds.observe(m.ms / 1000);
      }),
      subscribe('commit', (m) => {
        this.commitSeconds.observe(m.ms / 1000);
        this.commitEpisodes.observe(m.episodes);
        this.commitOps.observe(m.ops);
      }),
      subscribe('activate', () => void this.activations++),
      subscribe('evict', (m) => this.evictions.inc(m.reason)),
      subscribe('schedule', () => void this.schedules++),
    ];
  }

  /** Count one HTTP response by status. */
  response(status: number): void {
    this.responses.inc(String(status));
  }

  /** The exposition text. */
  render(): string {
    const { activeClouds, mailboxDepth } = this.host.stats();
    const out: string[] = [];
    const block = (name: string, type: string, help: string, lines: string[]): void => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    block('kumo_episodes_total', 'counter', 'Episodes finished, by outcome.', this.episodes.lines('kumo_episodes_total', 'outcome'));
    block('kumo_episode_errors_total', 'counter', 'Failed episodes, by error code.', this.episodeErrors.lines('kumo_episode_errors_total', 'code'));
    block('kumo_episode_duration_seconds', 'histogram', 'Episode latency, from mailbox start to commit.', this.episodeSeconds.lines('kumo_episode_duration_seconds'));
    block('kumo_queries_total', 'counter', 'Queries run, by outcome.', this.queries.lines('kumo_queries_total', 'outcome'));
    block('kumo_query_errors_total', 'counter', 'Failed queries, by error code.', this.queryErrors.lines('kumo_query_errors_total', 'code'));
    block('kumo_query_duration_seconds', 'histogram', 'Query latency.', this.querySeconds.lines('kumo_query_duration_seconds'));
    block('kumo_commit_duration_seconds', 'histogram', 'Store batch write latency (group commit).', this.commitSeconds.lines('kumo_commit_duration_seconds'));
    block('kumo_commit_batch_episodes', 'histogram', 'Episodes per store batch.', this.commitEpisodes.lines('kumo_commit_batch_episodes'));
    block('kumo_commit_batch_ops', 'histogram', 'Write operations per store batch.', this.commitOps.lines('kumo_commit_batch_ops'));
    block('kumo_active_clouds', 'gauge', 'Clouds held in memory.', [`kumo_active_clouds ${activeClouds}`]);
    block('kumo_mailbox_depth', 'gauge', 'Messages waiting or running in all mailboxes.', [`kumo_mailbox_depth ${mailboxDepth}`]);
    block('kumo_activations_total', 'counter', 'Clouds loaded from the store.', [`kumo_activations_total ${this.activations}`]);
    block('kumo_evictions_total', 'counter', 'Clouds dropped from memory, by reason.', this.evictions.lines('kumo_evictions_total', 'reason'));
    block('kumo_schedules_fired_total', 'counter', 'Scheduled events sent.', [`kumo_schedules_fired_total ${this.schedules}`]);
    block('kumo_http_responses_total', 'counter', 'HTTP responses, by status.', this.responses.lines('kumo_http_responses_total', 'status'));
    return out.join('\n') + '\n';
  }

  close(): void {
    for (const stop of this.stops) stop();
  }
}
