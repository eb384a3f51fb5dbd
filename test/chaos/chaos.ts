import { openDataDir } from '../../channels/data-dir.ts';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ranges } from '../../kernel/index.ts';
import { startNatsSystem, type NatsSystem } from '../nats-servers.ts';
import { repoRoot, spawnServe, type ServeProcess } from '../serve-process.ts';
import { TALLY } from '../tally-ruleset.ts';
import { random, type Random } from './random.ts';

/**
 * The chaos run (docs/chaos.md): a realm of three `kumo serve` processes on nats-server (one, or a
 * three-node cluster) under a steady load of events, each with a token of its own, while a
 * nemesis kills, pauses and restarts hosts and NATS nodes, moves clouds back and forth and
 * restarts hosts under changed flags. A checker then counts, per acknowledged token, how often it
 * was applied (exactly once, or it was lost or doubled), watches that no cloud is ever answered
 * for by two hosts, and that every host rejoins. Everything random comes from one seed.
 */

export interface ChaosOptions {
  seed: number;
  /** How long the nemesis and the load run (s); the checker then waits for the realm to settle. */
  seconds: number;
  /** One nats-server, or a three-node cluster (streams and bucket with three replicas). */
  nats: 'single' | 'cluster';
  /** Events sent per second at most (marks and cross-host sends). */
  rate?: number;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  nats: 'single' | 'cluster';
  seconds: number;
  /** Events answered 200: each must be applied exactly once. */
  acknowledged: number;
  /** Acknowledged and applied exactly once. */
  applied: number;
  /** Acknowledged and never applied. */
  lost: string[];
  /** Applied more than once (acknowledged or not). */
  doubled: string[];
  /** Given up on after the run (answered 503/504 or not at all until the end): not acknowledged, so not counted. */
  unacknowledged: number;
  /** Seconds in which some event was refused as unavailable (503, 504, or no answer). */
  unavailableSeconds: number;
  /** What the nemesis did, by kind. */
  faults: Record<string, number>;
  /** A cloud answered for by two hosts in one round of asking every host. */
  twoHosts: string[];
  /** A host that did not rejoin its realm, or a restart under changed flags that was not refused. */
  hostTrouble: string[];
  /** Answers no client should ever get for these clouds (404 UNKNOWN_ECI, 500, …). */
  wrongAnswers: string[];
  /** Clouds held in the stores of other than one host at the end. */
  copies: string[];
}

const HOSTS = ['h1', 'h2', 'h3'] as const;
const CLOUDS_PER_HOST = 2;
const UNAVAILABLE = new Set([503, 504]);

interface HostSlot {
  name: string;
  dataDir: string;
  proc: ServeProcess | null;
  /** Every URL it listened on (a restart picks a new port). */
  urls: Set<string>;
  busy: boolean;
}

interface Cloud {
  name: string;
  eci: string;
  id: string;
  /** When moves of it were asked and answered (ms), to tell a move in flight from two homes. */
  moving: Array<[number, number]>;
}

/** Run the chaos and check it; resolves with the report (a failed check is in the report, not thrown). */
export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const log = o.log ?? (() => undefined);
  const rng = random(o.seed);
  const cleanups: Array<() => Promise<void>> = [];
  const dir = await mkdtemp(join(tmpdir(), 'kumo-chaos-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  try {
    const nats = await startNatsSystem({ nodes: o.nats === 'cluster' ? 3 : 1 }, (fn) => cleanups.push(fn));
    const rulesets = join(dir, 'rulesets');
    await mkdir(rulesets);
    await writeFile(join(rulesets, 'tally.ts'), TALLY.replaceAll('RULESETS', JSON.stringify(join(repoRoot, 'rulesets/index.ts'))));
    const run = new Chaos(o, rng, nats, rulesets, dir, log);
    cleanups.push(() => run.killAll());
    return await run.go();
  } finally {
    for (const fn of cleanups.reverse()) await fn().catch(() => undefined);
  }
}

class Chaos {
  private readonly hosts: HostSlot[];
  private readonly clouds: Cloud[] = [];
  private readonly acked = new Map<string, Cloud>();
  /** The sending cloud of each send (`s` token): a lost send is looked for in its dead letters. */
  private readonly senders = new Map<string, Cloud>();
  private readonly pending = new Set<string>();
  private readonly unavailable = new Set<number>();
  private readonly faults: Record<string, number> = {};
  private readonly twoHosts: string[] = [];
  private readonly hostTrouble: string[] = [];
  private readonly wrongAnswers: string[] = [];
  private token = 0;

  constructor(
    private readonly o: ChaosOptions,
    private readonly rng: Random,
    private readonly nats: NatsSystem,
    private readonly rulesets: string,
    dir: string,
    private readonly log: (line: string) => void,
  ) {
    this.hosts = HOSTS.map((name) => ({ name, dataDir: join(dir, name), proc: null, urls: new Set(), busy: false }));
  }

  async go(): Promise<ChaosReport> {
    for (const h of this.hosts) await this.start(h);
    await this.makeClouds();
    this.log(`chaos: seed ${this.o.seed}, ${this.o.nats} nats-server, ${this.clouds.length} clouds on ${this.hosts.length} hosts, ${this.o.seconds} s`);
    const until = Date.now() + this.o.seconds * 1000;
    await Promise.all([this.load(until), this.nemesis(until), this.watch(until)]);
    this.log('chaos: settling (every host up, what was not answered retried)');
    for (const h of this.hosts) if (!h.proc) await this.start(h);
    for (const node of this.nats.nodes) if (!node.running) await node.start();
    await this.settle();
    return this.check();
  }

  // ---- hosts ----

  private args(h: HostSlot, over: string[] = []): string[] {
    return ['--nats', this.nats.url, '--host-id', h.name, '--partitions', '8', ...(this.o.nats === 'cluster' ? ['--replicas', '3'] : []), ...over];
  }

  private async start(h: HostSlot): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        h.proc = await spawnServe({ dataDir: h.dataDir, rulesetsDir: this.rulesets, args: this.args(h) });
        h.urls.add(h.proc.url);
        return;
      } catch (err) {
        // NATS may be down this moment (a new host cannot join then); a host that was in the realm starts anyway.
        if (tries >= 20) {
          this.hostTrouble.push(`${h.name} could not start: ${(err as Error).message.split('\n')[0]}`);
          return;
        }
        await sleep(500);
      }
    }
  }

  async killAll(): Promise<void> {
    for (const h of this.hosts) {
      if (h.proc) {
        h.proc.proc.kill('SIGCONT');
        await h.proc.stop('SIGKILL');
      }
    }
  }

  private live(): HostSlot[] {
    return this.hosts.filter((h) => h.proc && !h.busy);
  }

  /** One of `items` at random; undefined when there are none. */
  private pick<T>(items: readonly T[]): T | undefined {
    return items[Math.floor(this.rng() * items.length)];
  }

  /** One of `items` at random, which are never none (the clouds, the NATS nodes). */
  private pickOne<T>(items: readonly T[]): T {
    const item = this.pick(items);
    if (item === undefined) throw new Error('chaos: nothing to pick from');
    return item;
  }

  // ---- clouds ----

  private async makeClouds(): Promise<void> {
    for (const h of this.hosts) {
      const owner = (await readFile(`${h.dataDir}.eci`, 'utf8')).trim();
      for (let i = 0; i < CLOUDS_PER_HOST; i++) {
        const name = `${h.name}-c${i}`;
        const r = await postJson(`${h.proc!.url}/sky/event/${owner}/make-${name}/wrangler/new_child_request`, { name, rids: ['test.tally'] });
        const made = (r.body as { directives: Array<{ name: string; options: { eci: string; id: string } }> }).directives.find((d) => d.name === 'wrangler:new_child_created')!.options;
        this.clouds.push({ name, eci: made.eci, id: made.id, moving: [] });
      }
    }
  }

  // ---- the load ----

  private async load(until: number): Promise<void> {
    const rate = this.o.rate ?? 60;
    const workers = 6;
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (Date.now() < until) {
          const started = Date.now();
          await this.sendOne(until);
          await sleep(Math.max(0, (workers * 1000) / rate - (Date.now() - started)));
        }
      }),
    );
  }

  /** One event, with a token of its own, retried with its key until answered 200 or the run ends. */
  private async sendOne(until: number): Promise<void> {
    const cloud = this.pickOne(this.clouds);
    const n = ++this.token;
    // Half marks to the cloud, half sends from it to another cloud (across hosts, through the outbox).
    const send = this.rng() < 0.5;
    const target = send ? this.pickOne(this.clouds.filter((c) => c !== cloud)) : cloud;
    const token = send ? `s${n}` : `m${n}`;
    const path = send ? `tally/send` : 'tally/mark';
    const body = send ? { to: target.eci, n: token } : { n: token };
    this.pending.add(token);
    await this.retry(until + 60_000, async () => {
      const h = this.pick(this.live().length > 0 ? this.live() : this.hosts.filter((x) => x.proc));
      if (!h?.proc) return false;
      const r = await postJson(`${h.proc.url}/sky/event/${cloud.eci}/${token}/${path}`, body, { 'idempotency-key': token }).catch(() => null);
      if (r?.status === 200) {
        this.acked.set(token, target);
        if (send) this.senders.set(token, cloud);
        return true;
      }
      if (r === null || UNAVAILABLE.has(r.status)) this.unavailable.add(Math.floor(Date.now() / 1000));
      else this.wrongAnswers.push(`${token} to ${cloud.name} through ${h.name}: ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
      return r !== null && !UNAVAILABLE.has(r.status); // a wrong answer is not retried
    });
    this.pending.delete(token);
  }

  /** Try until `attempt` says done, or `deadline` (then it is given up: not acknowledged). */
  private async retry(deadline: number, attempt: () => Promise<boolean>): Promise<void> {
    for (let wait = 50; Date.now() < deadline; wait = Math.min(1000, wait * 2)) {
      if (await attempt()) return;
      await sleep(wait);
    }
  }

  // ---- the nemesis ----

  private async nemesis(until: number): Promise<void> {
    const actions: Array<[string, number, () => Promise<void>]> = [
      ['kill host', 3, () => this.killHost()],
      ['pause host', 2, () => this.pauseHost()],
      ['kill nats node', 2, () => this.killNats()],
      ['move cloud', 6, () => this.moveCloud()],
      ['restart host under changed flags', 1, () => this.changedFlags()],
    ];
    const total = actions.reduce((s, [, w]) => s + w, 0);
    await sleep(1000);
    while (Date.now() < until) {
      let x = this.rng() * total;
      const [name, , act] = actions.find(([, w]) => (x -= w) < 0)!;
      this.faults[name] = (this.faults[name] ?? 0) + 1;
      this.log(`chaos: ${name}`);
      await act().catch((err: unknown) => this.log(`chaos: ${name} failed: ${(err as Error).message.split('\n')[0]}`));
      await sleep(1000 + this.rng() * 2000);
    }
  }

  private async killHost(): Promise<void> {
    const h = this.pick(this.live());
    if (!h) return;
    h.busy = true;
    await h.proc!.stop('SIGKILL');
    h.proc = null;
    await sleep(300 + this.rng() * 2500);
    await this.start(h);
    h.busy = false;
  }

  private async pauseHost(): Promise<void> {
    const h = this.pick(this.live());
    if (!h) return;
    h.busy = true;
    h.proc!.proc.kill('SIGSTOP');
    await sleep(1000 + this.rng() * 3000);
    h.proc!.proc.kill('SIGCONT');
    h.busy = false;
  }

  private async killNats(): Promise<void> {
    const node = this.pickOne(this.nats.nodes);
    await node.kill();
    await sleep(1000 + this.rng() * 3000);
    await node.start();
  }

  private async moveCloud(): Promise<void> {
    // Half the time one that moved before: second and third moves are where moves went wrong.
    const moved = this.clouds.filter((c) => c.moving.length > 0);
    const cloud = this.pickOne(moved.length > 0 && this.rng() < 0.5 ? moved : this.clouds);
    const via = this.pick(this.live());
    if (!via) return;
    // To a host it is not on (as far as its answer says), so that moves are moves.
    const where = await postJson(`${via.proc!.url}/sky/cloud/${cloud.eci}/test.tally/where`, {}).catch(() => null);
    const on = this.hosts.find((h) => where?.status === 200 && h.urls.has(where.body as string));
    const to = this.pickOne(this.hosts.filter((h) => h !== on)).name;
    const span: [number, number] = [Date.now(), Infinity];
    cloud.moving.push(span);
    const r = await postJson(`${via.proc!.url}/c/${cloud.eci}/move?to=${to}`, {}).catch(() => null);
    span[1] = Date.now();
    this.log(`chaos: move ${cloud.name} to ${to}: ${r?.status ?? 'no answer'}${r && r.status !== 200 ? ` ${JSON.stringify(r.body).slice(0, 160)}` : ''}`);
  }

  /** Stopped, started as another host and in another realm (both must be refused), then as itself again. */
  private async changedFlags(): Promise<void> {
    const h = this.pick(this.live());
    if (!h) return;
    h.busy = true;
    await h.proc!.stop('SIGTERM');
    h.proc = null;
    for (const wrong of [
      ['--host-id', `${h.name}x`],
      ['--realm', 'elsewhere'],
    ]) {
      const args = this.args(h).map((a, i, all) => (all[i - 1] === wrong[0] ? wrong[1]! : a));
      if (!args.includes(wrong[0]!)) args.push(...wrong);
      const started = await spawnServe({ dataDir: h.dataDir, rulesetsDir: this.rulesets, args }).then(
        (p) => p,
        () => null,
      );
      if (started) {
        this.hostTrouble.push(`${h.name} started with ${wrong.join(' ')}: not refused`);
        await started.stop('SIGKILL');
      }
    }
    await this.start(h);
    h.busy = false;
  }

  // ---- the watch: no cloud answered for by two hosts ----

  private async watch(until: number): Promise<void> {
    while (Date.now() < until) {
      for (const cloud of this.clouds) {
        const asked = Date.now();
        const answers = await Promise.all(
          this.live().map(async (h) => {
            const r = await postJson(`${h.proc!.url}/sky/cloud/${cloud.eci}/test.tally/where`, {}).catch(() => null);
            return r?.status === 200 ? (r.body as string) : null;
          }),
        );
        const by = new Set(answers.filter((a): a is string => a !== null).map((url) => this.hosts.find((h) => h.urls.has(url))?.name ?? url));
        const moving = cloud.moving.some(([from, to]) => from <= Date.now() && to >= asked - 1000);
        if (by.size > 1 && !moving) this.twoHosts.push(`${cloud.name} answered for by ${[...by].join(' and ')} at ${new Date(asked).toISOString()}`);
      }
      await sleep(1000);
    }
  }

  // ---- after the run ----

  private async settle(): Promise<void> {
    const deadline = Date.now() + 120_000;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(200);
    this.log(`chaos: ${this.pending.size} events still unanswered; checking that every host rejoined`);
    // Every host rejoined: it says it is connected to its realm.
    for (const h of this.hosts) {
      let joined = false;
      for (let i = 0; i < 60 && !joined; i++) {
        const r = await fetch(`${h.proc?.url}/realm`)
          .then((x) => x.json() as Promise<{ connected?: boolean }>)
          .catch(() => null);
        joined = r?.connected === true;
        if (!joined) await sleep(500);
      }
      if (!joined) this.hostTrouble.push(`${h.name} did not rejoin its realm within 30 s of the run's end`);
    }
  }

  /** SIGTERM, and SIGKILL (and trouble reported) when the host is not stopped within 30 s. */
  private async stopInTime(h: HostSlot): Promise<void> {
    const proc = h.proc;
    if (!proc) return;
    const stopped = proc.stop('SIGTERM');
    const late = await Promise.race([stopped.then(() => false), sleep(30_000).then(() => true)]);
    if (late) {
      this.hostTrouble.push(`${h.name} did not stop within 30 s of SIGTERM`);
      await proc.stop('SIGKILL');
    }
  }

  /** Why a lost send was given up, if its sender kept it as a dead letter: " (dead letter: CODE message)". */
  private async deadLetterOf(token: string): Promise<string> {
    const sender = this.senders.get(token);
    const h = this.hosts.find((x) => x.proc);
    if (!sender || !h?.proc) return '';
    const res = await fetch(`${h.proc.url}/c/${sender.eci}/dead-letters`, { signal: AbortSignal.timeout(10_000) }).catch(() => null);
    type Letter = { event?: { attrs?: { n?: unknown } }; reason?: { code?: string; message?: string } };
    const letters = res?.ok ? ((await res.json()) as { deadLetters?: Letter[] }).deadLetters : undefined;
    // The send's event carries the token as its attr n (test/tally-ruleset.ts).
    const letter = Array.isArray(letters) ? letters.find((l) => l.event?.attrs?.n === token) : undefined;
    return letter ? ` (dead letter of ${sender.name}: ${letter.reason?.code ?? '?'} ${letter.reason?.message ?? ''})` : '';
  }

  private async check(): Promise<ChaosReport> {
    this.log('chaos: reading what each cloud counted');
    // What each cloud counted, read once everything sent has had time to arrive: an outgoing event
    // whose deliveries failed during the faults waits up to 30 s (+25%) between tries, so two more
    // failed tries after the faults end (a loaded machine) take over a minute. Lost is never arrived.
    const counts = new Map<string, Record<string, number>>();
    const deadline = Date.now() + 120_000;
    for (;;) {
      for (const cloud of this.clouds) {
        const h = this.pickOne(this.hosts.filter((x) => x.proc));
        const r = await postJson(`${h.proc!.url}/sky/cloud/${cloud.eci}/test.tally/counts`, {}).catch(() => null);
        if (r?.status === 200) counts.set(cloud.eci, r.body as Record<string, number>);
      }
      const missing = [...this.acked].filter(([token, cloud]) => (counts.get(cloud.eci)?.[token] ?? 0) === 0);
      if (missing.length === 0 || Date.now() > deadline) break;
      await sleep(1000);
    }
    const lost: string[] = [];
    const doubled: string[] = [];
    for (const [token, cloud] of this.acked) if ((counts.get(cloud.eci)?.[token] ?? 0) === 0) lost.push(`${token} to ${cloud.name}${await this.deadLetterOf(token)}`);
    for (const cloud of this.clouds) for (const [token, n] of Object.entries(counts.get(cloud.eci) ?? {})) if (n > 1) doubled.push(`${token} in ${cloud.name} ×${n}`);
    // Every cloud in exactly one host's store. Each host is stopped as an operator would: it must stop in time.
    this.log('chaos: checking the stores');
    for (const h of this.hosts) await this.stopInTime(h);
    const holders = new Map<string, string[]>(this.clouds.map((c) => [c.id, []]));
    for (const h of this.hosts) {
      h.proc = null;
      const store = await openDataDir(h.dataDir);
      for (const c of this.clouds) if ((await store.keys({ ...ranges.cloud(c.id), limit: 1 })).length > 0) holders.get(c.id)!.push(h.name);
      await store.close();
    }
    const copies = this.clouds.filter((c) => holders.get(c.id)!.length !== 1).map((c) => `${c.name} held by ${holders.get(c.id)!.join(', ') || 'no host'}`);
    return {
      seed: this.o.seed,
      nats: this.o.nats,
      seconds: this.o.seconds,
      acknowledged: this.acked.size,
      applied: [...this.acked].filter(([token, cloud]) => counts.get(cloud.eci)?.[token] === 1).length,
      lost,
      doubled,
      unacknowledged: this.token - this.acked.size,
      unavailableSeconds: this.unavailable.size,
      faults: this.faults,
      twoHosts: this.twoHosts,
      hostTrouble: this.hostTrouble,
      wrongAnswers: this.wrongAnswers,
      copies,
    };
  }
}

/** Did the run keep every promise? */
export function passed(r: ChaosReport): boolean {
  return r.lost.length === 0 && r.doubled.length === 0 && r.twoHosts.length === 0 && r.hostTrouble.length === 0 && r.wrongAnswers.length === 0 && r.copies.length === 0;
}

/** The report as a few lines for people. */
export function summary(r: ChaosReport): string {
  const list = (what: string, items: string[]): string => (items.length === 0 ? `${what}: none` : `${what}: ${items.length}\n    ${items.slice(0, 10).join('\n    ')}`);
  return [
    `chaos run, seed ${r.seed}, ${r.nats} nats-server, ${r.seconds} s: ${passed(r) ? 'PASSED' : 'FAILED'}`,
    `  acknowledged ${r.acknowledged}, applied exactly once ${r.applied}, not acknowledged (given up) ${r.unacknowledged}, unavailable seconds ${r.unavailableSeconds}`,
    `  faults: ${
      Object.entries(r.faults)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    }`,
    `  ${list('lost', r.lost)}`,
    `  ${list('doubled', r.doubled)}`,
    `  ${list('a cloud answered for by two hosts', r.twoHosts)}`,
    `  ${list('clouds not in exactly one store at the end', r.copies)}`,
    `  ${list('host trouble', r.hostTrouble)}`,
    `  ${list('wrong answers', r.wrongAnswers)}`,
  ].join('\n');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** POST JSON with a time limit; the status and the parsed body. */
async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as unknown) : null };
}
