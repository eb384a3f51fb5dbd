import { randomBytes } from 'node:crypto';
import { backoff, bundleEcis, InvalidArgsError, KumoError, messageOf, OutcomeUnknownError, type CloudBundle, type Host, type MoveResult, type RequestOf, RealmUnavailableError } from '../../kernel/index.ts';
import type { MoveDecision, Placement } from './placement.ts';
import type { MoveSeal } from './move-seal.ts';
import type { RealmRouter } from './realm-router.ts';
import { RETRY } from './retry.ts';
import { pack, unpack } from './wire.ts';

/**
 * Fault injection for the tests of interrupted moves: `KUMO_CRASH_AT=<step>` kills this process
 * (SIGKILL, as a power cut would) when the move reaches that step. Steps: `move:seized`,
 * `move:sent`, `move:pending`, `move:decided`, `move:left` (source), `move:landed` (target).
 */
function crashPoint(step: string): void {
  if (process.env['KUMO_CRASH_AT'] === step) process.kill(process.pid, 'SIGKILL');
}

/** Bytes per request when a moving subtree travels to its new host (under NATS's 1 MiB message limit). */
const CHUNK = 256 * 1024;

/** Tries to delete a moved copy that the store refused to delete, before leaving it to the next start. */
const LEAVE_TRIES = 30;

/**
 * Moving a cloud, with its whole subtree, to another host of the realm, so that no event is lost or
 * applied twice and an interrupted move either completes or is undone. Each step is a request to
 * the kernel of one host (kernel/requests/request.ts: `moveOut`, `moveLand`, …):
 *
 *   1. the source remembers the move, puts the clouds on hold (work for them waits, never refused),
 *      lets their mailboxes drain and reads them whole, outgoing events included (`moveOut`);
 *   2. the target lands them in one batch, held: they serve nothing yet (`moveLand`);
 *   3. the source enters their ECIs in the realm's moved table, marked with the move;
 *   4. the move is decided, once, in the placement bucket (create-only key): committed;
 *   5. the source deletes its copy and lets what waited go on (`moveLeave`: it finds the clouds on
 *      the target); the target, told or seeing the decision, serves them (`moveLive`).
 *
 * A failure before the decision decides "aborted" instead: the target drops what landed
 * (`moveDrop`) and the source serves again (`moveStay`). A host killed at any step finds its half of
 * the move at restart (`moves`) and acts on the decision, or decides "aborted" itself when there is
 * none (only the source decides, so the first decision written is the only one).
 */
export class Mover {
  private readonly incoming = new Map<string, Array<Uint8Array | undefined>>();
  /** Rejects once the host is stopping (see {@link interrupt}). */
  private readonly halted: Promise<never>;
  private halt: (err: Error) => void = () => undefined;
  private stopping = false;

  constructor(
    private readonly self: string,
    private readonly placement: Placement,
    private readonly router: RealmRouter,
    private readonly host: Host,
    private readonly seal: MoveSeal,
  ) {
    placement.onDecision((id, decision) => void this.decided(id, decision).catch(() => undefined));
    this.halted = new Promise<never>((_, reject) => (this.halt = reject));
    this.halted.catch(() => undefined);
  }

  /**
   * The host is stopping: a move not yet decided stops where it stands and answers OUTCOME_UNKNOWN
   * at once, instead of waiting on the realm (a JetStream write to a cluster that lost its quorum
   * waits for its time-out, one after another); the host finishes it at its next start
   * ({@link recover}: decided "aborted" unless a decision was written). A move decided already
   * finishes here (its last step is local).
   */
  interrupt(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.halt(new Error('the host is stopping'));
    // Its clouds stay on hold: what waits for them is told now, or the stop would wait for it.
    void this.step({ op: 'moveHalt' }).catch(() => undefined);
  }

  /**
   * The move's decision as the placement bucket has it: `wanted`, unless another was written first.
   * Asked again (with back-off) until the bucket answers, or the host stops (then the decision is
   * made at its next start, {@link recover}).
   */
  private async decideSurely(id: string, wanted: MoveDecision, eci: string, to: string): Promise<MoveDecision> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.unlessStopping(this.placement.decide(id, wanted), eci, to);
      } catch (err) {
        if (this.stopping) throw err;
        await backoff(attempt, RETRY);
      }
    }
  }

  /** `p`, unless the host stops first: then the move's outcome is unknown to its caller. */
  private async unlessStopping<T>(p: Promise<T>, eci: string, to: string): Promise<T> {
    if (this.stopping) p.catch(() => undefined);
    try {
      return await Promise.race([p, this.halted]);
    } catch (err) {
      if (!this.stopping) throw err;
      const why = `moving it to host ${to} was interrupted: this host began to stop before the move was decided. The move is finished or undone when this host starts again (kumo realm shows where the cloud is)`;
      throw new OutcomeUnknownError(eci, to, 'stopped').withContext(why, {});
    }
  }

  /** A step of a move on this host's kernel. */
  private step<K extends 'moveOut' | 'moveLeave' | 'moveStay' | 'moveLand' | 'moveLive' | 'moveDrop' | 'moveHalt' | 'moves'>(req: RequestOf<K>) {
    return this.host.handle(req, { local: true });
  }

  /** Move the cloud behind `eci` (an ECI with its full authority) and its subtree to host `to`. */
  async move(req: RequestOf<'move'> & { forwarded?: boolean }): Promise<MoveResult> {
    const { eci, to } = req;
    try {
      await this.host.eciInfo(eci, { local: true });
    } catch (err) {
      // Not a cloud of this host (the map was behind): ask the host that has it, once.
      if (err instanceof KumoError && err.code === 'UNKNOWN_ECI' && !req.forwarded) return (await this.router.ask(this.router.hostOf(eci), eci, { ...req, forwarded: true })) as MoveResult;
      throw err;
    }
    if (to === this.self) throw new InvalidArgsError(`the cloud is on host ${to} already`);
    if (!this.placement.knownHosts().some((h) => h.id === to)) throw new InvalidArgsError(`no host ${JSON.stringify(to)} in this realm (kumo realm lists them)`);
    const id = randomBytes(9).toString('base64url');
    const bundle = await this.step({ op: 'moveOut', id, eci, to });
    crashPoint('move:seized');
    const ecis = bundleEcis(bundle);
    let decision: 'committed' | 'aborted';
    const step = <T>(p: Promise<T>) => this.unlessStopping(p, eci, to);
    try {
      await step(this.send(id, to, bundle));
      crashPoint('move:sent');
      await step(this.placement.movePending(id, ecis, to));
      crashPoint('move:pending');
      decision = await step(this.placement.decide(id, 'committed'));
      crashPoint('move:decided');
    } catch (err) {
      if (this.stopping) throw err;
      // Never taken as aborted on a guess: a "committed" whose answer was lost may be in the bucket
      // (then the target serves, and so would this host: two copies). The bucket's answer decides.
      decision = await this.decideSurely(id, 'aborted', eci, to);
      if (decision === 'aborted') {
        await step(this.abandon(id, to, ecis));
        // What the realm itself failed at (NATS, JetStream) is worth another try, not the caller's mistake.
        throw err instanceof KumoError ? err : new RealmUnavailableError(`move the cloud to ${to}`, `the move failed and was undone (${messageOf(err)})`);
      }
    }
    await this.leave(id);
    crashPoint('move:left');
    void this.router.ask(to, '', { op: 'moveDecided', id }).catch(() => undefined);
    return { id, to, clouds: bundle.clouds.length, records: bundle.records.length };
  }

  /**
   * The committed move's copy here goes. A store that refuses (a full disk) leaves the clouds held,
   * never served here again; the move is answered as committed (it is) and the copy is deleted by
   * later tries, at the latest when the host restarts (from the move's journal).
   */
  private async leave(id: string): Promise<void> {
    try {
      await this.step({ op: 'moveLeave', id });
    } catch {
      void (async () => {
        for (let attempt = 1; attempt <= LEAVE_TRIES; attempt++) {
          await backoff(attempt, RETRY);
          if (
            await this.step({ op: 'moveLeave', id }).then(
              () => true,
              () => false,
            )
          )
            return;
        }
      })();
    }
  }

  /** At start: decide and finish the moves this host was in the middle of. */
  async recover(): Promise<void> {
    const { out, in: landed } = await this.step({ op: 'moves' });
    for (const m of out) {
      const decision = this.placement.decision(m.id) ?? (await this.placement.decide(m.id, 'aborted'));
      // Committed: the clouds may still be here (killed before deleting them), and leave now.
      if (decision === 'committed') await this.step({ op: 'moveLeave', id: m.id });
      else await this.abandon(m.id, m.to, m.ecis);
      void this.router.ask(m.to, '', { op: 'moveDecided', id: m.id }).catch(() => undefined);
    }
    for (const m of landed) {
      const decision = this.placement.decision(m.id);
      if (decision) await this.decided(m.id, decision);
    }
  }

  /** A chunk of a subtree moving here. */
  chunk(id: string, seq: number, data: Uint8Array): void {
    let chunks = this.incoming.get(id);
    if (!chunks) this.incoming.set(id, (chunks = []));
    chunks[seq] = data;
  }

  /** All of it came: land it, held until the move is decided. */
  async land(id: string, from: string, count: number): Promise<void> {
    const chunks = this.incoming.get(id) ?? [];
    this.incoming.delete(id);
    // Parts are kept by index: a part that never came is a hole, which filter() does not count.
    const arrived = chunks.filter((c) => c !== undefined);
    if (chunks.length !== count || arrived.length !== count) throw new InvalidArgsError(`move ${id}: ${arrived.length} of ${count} parts arrived`);
    const plain = this.seal.open(Buffer.concat(arrived));
    if (!plain) throw new InvalidArgsError(`move ${id}: its clouds were not sealed for this host's key (sealed for an earlier start of it?)`);
    await this.step({ op: 'moveLand', id, from, bundle: unpack(plain) });
    crashPoint('move:landed');
    // Decided already (the source died after deciding, then was told to retry)? Act on it.
    const decision = this.placement.decision(id);
    if (decision) await this.decided(id, decision);
  }

  /** A move was decided: the clouds landed here serve, or go. */
  decided(id: string, decision: 'committed' | 'aborted'): Promise<void> {
    return this.step({ op: decision === 'committed' ? 'moveLive' : 'moveDrop', id });
  }

  private async send(id: string, to: string, bundle: CloudBundle): Promise<void> {
    // Sealed for the target alone: NATS carries no cloud in the clear, with TLS or without.
    const key = this.placement.sealKeyOf(to);
    if (key === undefined) throw new RealmUnavailableError(`move clouds to host ${to}`, 'it has told the realm no key to seal them for it (a kumo from before moves were sealed?)');
    const bytes = this.seal.sealFor(key, pack(bundle));
    const count = Math.max(1, Math.ceil(bytes.length / CHUNK));
    for (let seq = 0; seq < count; seq++) {
      await this.router.ask(to, '', { op: 'moveChunk', id, seq, data: bytes.subarray(seq * CHUNK, (seq + 1) * CHUNK) });
    }
    await this.router.ask(to, '', { op: 'moveLanding', id, from: this.self, chunks: count });
  }

  /** Undo a move decided aborted: the target drops what landed (now, or when it sees the decision), the source serves again. */
  private async abandon(id: string, to: string, ecis: string[]): Promise<void> {
    await this.placement.forgetMove(id, ecis).catch(() => undefined);
    await this.step({ op: 'moveStay', id });
    void this.router.ask(to, '', { op: 'moveDecided', id }).catch(() => undefined);
  }
}
