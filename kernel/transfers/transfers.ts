import type { ActiveClouds } from '../clouds/activation.ts';
import { SYSTEM_TAG } from '../capabilities/authority.ts';
import { asRecord, type CloudState } from '../clouds/cloud-state.ts';
import { appHashes, appSources, bundleEcis, bundleOps, bundleRulesets, checkBundle, readSubtree, type CloudBundle } from './bundle.ts';
import { DuplicateNameError, ImportConflictError, InvalidArgsError, InvalidCloudFileError, MissingRulesetsError } from '../errors.ts';
import type { CloudId } from '../ids.ts';
import { keys, ranges, stored, type AppRecord, type InstallRecord, type Key, type MoveIn, type MoveOut, type OutboxEntry } from '../store/keys.ts';
import type { Outbox } from '../delivery/outbox.ts';
import type { ChildInfo, Ruleset } from '../ruleset.ts';
import { del, put, type Store, type WriteOp } from '../store/store.ts';
import type { Tx } from '../episodes/tx.ts';

export interface TransferDeps {
  store: Store;
  clouds: ActiveClouds;
  outbox: Outbox;
  rulesets: ReadonlyMap<string, Ruleset>;
  /** An app install as it runs (what was last installed from its URL): what a cloud carries away. */
  running(app: AppRecord): AppRecord;
  now(): number;
  /** Stage changes to a cloud in its mailbox and commit them. */
  commitIn<T>(cloudId: CloudId, stage: (tx: Tx, cloud: CloudState) => T | Promise<T>): Promise<T>;
  /** Write a batch (group commit). */
  write(ops: WriteOp[]): Promise<void>;
  /** Clouds came in: ECIs were added to the index (called after the write). */
  changed(): void;
}

/** A subtree held still for carrying away: nothing runs in it until it is released. */
export interface Seized {
  bundle: CloudBundle;
  ids: Set<CloudId>;
  /** The outbox keys of its undelivered events, when it is leaving for good. */
  outboxKeys: Array<Key<OutboxEntry>>;
}

/**
 * Carrying clouds away and bringing them in: a subtree is put on hold (new work for it waits, never
 * refused), quiesced and read whole; it then stays (a copy was taken) or leaves (deleted in its
 * parent's batch, with a forwarding address per ECI when it goes to another provider). A bundle
 * from elsewhere lands under a parent cloud in one batch, its indexes rebuilt, or not at all.
 */
export class Transfers {
  /** One import at a time, so two cannot both pass the collision check and write the same ids. */
  private landing: Promise<unknown> = Promise.resolve();
  /** Subtrees held for moves away from this host, by move id, until the move is decided. */
  private readonly out = new Map<string, Seized>();

  constructor(private readonly deps: TransferDeps) {}

  /** Hold the subtree under `root`, wait until nothing runs in it, and read it. With `leaving`, also take its outbox. */
  async seize(root: CloudId, leaving: boolean): Promise<Seized> {
    const { clouds } = this.deps;
    const ids = new Set<CloudId>();
    // Held level by level until no new cloud turns up: a held parent can no longer make children.
    for (let fresh: CloudId[] = [root]; fresh.length > 0;) {
      clouds.hold(fresh);
      for (const id of fresh) ids.add(id);
      await Promise.all(fresh.map((id) => clouds.quiesce(id)));
      const { clouds: metas } = await readSubtree(this.deps.store, root);
      fresh = metas.map((m) => m.id).filter((id) => !ids.has(id));
    }
    const { clouds: metas, records: read } = await readSubtree(this.deps.store, root);
    // An app install travels as it runs here: a URL whose content changed since it was installed updated it.
    const records = read.map((r) => {
      const app = r.kind === 'rs' ? r.value.app : undefined;
      return app ? { ...r, value: { ...(r.value as InstallRecord), app: this.deps.running(app) } } : r;
    });
    const taken = leaving ? await this.deps.outbox.take(ids) : [];
    const hashes = appHashes(records);
    return {
      bundle: { root, clouds: metas, records: records.map((r) => [r.key, r.value]), outbox: taken.map((t) => t.entry), ...(hashes.length > 0 ? { apps: await appSources(this.deps.store, hashes) } : {}) },
      ids,
      outboxKeys: taken.map((t) => t.key),
    };
  }

  /** Let the subtree go on here: it stays (a copy was taken, or a move was called off). */
  stay(seized: Seized): void {
    this.deps.outbox.unpause(seized.ids);
    this.deps.clouds.release(seized.ids);
  }

  /**
   * The subtree leaves this host for another provider: deleted in its parent's batch with its
   * undelivered events (they travel with it), leaving a forwarding address per ECI. Work that
   * waited for it then finds it gone and looks for it again.
   */
  async leave(seized: Seized, movedTo: string): Promise<void> {
    const { bundle, ids } = seized;
    const root = bundle.clouds[0]!;
    if (root.parent === null) throw new InvalidArgsError('the root cloud of a host cannot leave it');
    try {
      await this.deps.commitIn(root.parent, (tx, parent) => {
        tx.deletions.push({ id: root.id });
        const time = this.deps.now();
        tx.stage([del(keys.child(parent.id, root.id))], (c) => c.children.delete(root.id));
        tx.stage([...seized.outboxKeys.map((k) => del(k)), ...bundleEcis(bundle).map((eci) => put(keys.tombstone(eci), { movedTo, time }))]);
      });
    } catch (err) {
      this.stay(seized);
      throw err;
    }
    this.deps.outbox.giveUp(ids);
    this.deps.clouds.release(ids);
  }

  // ---- moves within a realm: the source's and the target's halves ----

  /** Begin moving the subtree under `root` to host `to`: seized, then remembered (for a restart). Its bundle. */
  async beginMoveOut(id: string, root: CloudId, to: string): Promise<CloudBundle> {
    const seized = await this.seize(root, true);
    const ecis = bundleEcis(seized.bundle);
    try {
      await this.deps.write([put(keys.moveOut(id), { id, root, to, ids: [...seized.ids], ecis })]);
    } catch (err) {
      this.stay(seized);
      throw err;
    }
    this.out.set(id, seized);
    return seized.bundle;
  }

  /**
   * The move was committed: the subtree's records leave this host (the realm routes to its new
   * host), with its undelivered events (they travelled) and the move's journal, in one batch. Not
   * through an episode of the parent: the cloud stays its parent's child, and after an earlier move
   * the parent is on another host. If the write fails the clouds stay held, never served here
   * again: the realm serves them elsewhere now. The caller tries again (at the latest at restart,
   * from the journal).
   */
  async endMoveOut(id: string): Promise<void> {
    const seized = this.out.get(id) ?? (await this.seizeAgain(id));
    if (!seized) return; // over already
    const taken = seized.outboxKeys.map((k) => del(k));
    await this.deps.clouds.deleteSubtrees([{ id: seized.bundle.root }], (ops) => this.deps.write([...ops, ...taken, del(keys.moveOut(id))]));
    this.out.delete(id);
    this.deps.outbox.giveUp(seized.ids);
    this.deps.clouds.release(seized.ids);
  }

  /** After a restart: the subtree of move `id` held and read again from its journal (undefined: no such move). */
  private async seizeAgain(id: string): Promise<Seized | undefined> {
    const journal = await this.deps.store.get(keys.moveOut(id));
    if (!journal) return undefined;
    const seized = await this.seize(journal.root, true);
    this.out.set(id, seized);
    return seized;
  }

  /** The move was called off: the clouds go on here. */
  async abortMoveOut(id: string): Promise<void> {
    const journal = await this.deps.store.get(keys.moveOut(id));
    await this.deps.write([del(keys.moveOut(id))]);
    const seized = this.out.get(id);
    this.out.delete(id);
    if (seized) this.stay(seized);
    else if (journal) {
      this.deps.outbox.unpause(new Set(journal.ids));
      this.deps.clouds.release(journal.ids);
    }
  }

  /**
   * Land the subtree of a move from host `from`, detached (its parent stays where it was) and held:
   * it serves nothing until {@link goLive}, or is dropped by {@link dropLanded}. One batch.
   */
  async landPending(id: string, from: string, raw: unknown): Promise<void> {
    const bundle = checkBundle(raw);
    if ((await this.deps.store.get(keys.moveIn(id))) !== undefined) return; // landed before (a retried request)
    await this.refuseCollisions(bundle);
    const ids = bundle.clouds.map((c) => c.id);
    this.deps.clouds.hold(ids);
    try {
      await this.deps.write([...bundleOps(bundle), put(keys.moveIn(id), { id, from, root: bundle.root, ids, outbox: bundle.outbox })]);
    } catch (err) {
      this.deps.clouds.release(ids);
      throw err;
    }
    this.deps.changed();
  }

  /** A move to this host was committed: take up the clouds' outgoing events and serve them. */
  async goLive(id: string): Promise<void> {
    const landed = await this.deps.store.get(keys.moveIn(id));
    if (!landed) return;
    const adopted = this.deps.outbox.adopt(landed.outbox);
    await this.deps.write([...adopted.ops, del(keys.moveIn(id))]);
    adopted.start();
    this.deps.clouds.release(landed.ids);
  }

  /** A move to this host was aborted: delete what landed. */
  async dropLanded(id: string): Promise<void> {
    const landed = await this.deps.store.get(keys.moveIn(id));
    if (!landed) return;
    await this.deps.clouds.deleteSubtrees([{ id: landed.root }], (ops) => this.deps.write([...ops, del(keys.moveIn(id))]));
    this.deps.clouds.release(landed.ids);
  }

  /** Moves still to decide after a restart; their clouds, leaving or landed, are held again until then. */
  async inFlight(): Promise<{ out: MoveOut[]; in: MoveIn[] }> {
    const out = (await this.deps.store.entries(ranges.movesOut())).map(([, v]) => v);
    const landed = (await this.deps.store.entries(ranges.movesIn())).map(([, v]) => v);
    for (const m of [...out, ...landed]) this.deps.clouds.hold(m.ids);
    return { out, in: landed };
  }

  /** Refuse a bundle needing rulesets this host lacks, or colliding with a cloud or an ECI here. */
  private async refuseCollisions(bundle: CloudBundle): Promise<void> {
    const missing = bundleRulesets(bundle).filter((rid) => !this.deps.rulesets.has(rid));
    if (missing.length > 0) throw new MissingRulesetsError(missing);
    const { store } = this.deps;
    const clouds = (await Promise.all(bundle.clouds.map(async (c) => ((await store.get(keys.meta(c.id))) ? c.id : null)))).filter((x) => x !== null);
    if (clouds.length > 0) throw new ImportConflictError('clouds with these ids', clouds);
    const taken = (await Promise.all(bundleEcis(bundle).map(async (e) => ((await store.get(keys.eciIndex(e))) ? e : null)))).filter((x) => x !== null);
    if (taken.length > 0) throw new ImportConflictError('these ECIs', taken);
  }

  /**
   * Bring a bundle in as a child of `parent`, in one batch, or refuse it with nothing written: a
   * bundle that is not well formed, needs rulesets this host lacks, or would collide with a cloud,
   * an ECI or a child's name here.
   */
  land(parent: CloudId, raw: unknown, extra: (tx: Tx) => void = () => undefined): Promise<ChildInfo> {
    const run = this.landing.then(() => this.landNow(parent, raw, extra));
    this.landing = run.catch(() => undefined);
    return run;
  }

  private async landNow(parent: CloudId, raw: unknown, extra: (tx: Tx) => void): Promise<ChildInfo> {
    const bundle = checkBundle(raw);
    await this.refuseCollisions(bundle);
    const ecis = bundleEcis(bundle);
    const root = bundle.clouds[0]!;
    const handle = bundle.records.map(([k, v]) => asRecord(root.id, k, v)).find((r) => r?.kind === 'eci' && r.value.tags.includes(SYSTEM_TAG));
    if (handle?.kind !== 'eci') throw new InvalidCloudFileError('corrupt', 'the cloud file is corrupt: its top cloud has no system ECI to hand to its new parent');
    const child: ChildInfo = { id: root.id, name: root.name, eci: handle.eci };
    await this.deps.commitIn(parent, (tx, cloud) => {
      if (cloud.children.byName(root.name) !== undefined) throw new DuplicateNameError(`cloud ${cloud.meta.name} already has a child named ${JSON.stringify(root.name)}`, { name: root.name });
      const ops: WriteOp[] = [...bundleOps(bundle), put(keys.meta(root.id), stored({ ...root, parent: cloud.id })), put(keys.child(cloud.id, root.id), stored(child))];
      // An ECI coming back to a host it once left is no longer forwarded.
      for (const eci of ecis) ops.push(del(keys.tombstone(eci)));
      const adopted = this.deps.outbox.adopt(bundle.outbox);
      tx.stage([...ops, ...adopted.ops], (c) => c.children.set(root.id, child));
      tx.release(adopted.start);
      extra(tx);
    });
    this.deps.changed();
    return child;
  }
}
