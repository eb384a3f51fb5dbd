import type { ActiveClouds } from './active-clouds.ts';
import { SYSTEM_TAG } from './authority.ts';
import type { CloudState } from './cloud.ts';
import { bundleEcis, bundleOps, bundleRulesets, checkBundle, readSubtree, type CloudBundle } from './cloud-transfer.ts';
import { DuplicateNameError, ImportConflictError, InvalidArgsError, InvalidCloudFileError, MissingRulesetsError } from './errors.ts';
import type { CloudId } from './ids.ts';
import { keys, type Key, type OutboxEntry } from './keys.ts';
import type { Outbox } from './outbox.ts';
import type { ChildInfo, Ruleset } from './ruleset.ts';
import { del, put, type Store, type WriteOp } from './store.ts';
import type { Tx } from './tx.ts';

export interface TransferDeps {
  store: Store;
  clouds: ActiveClouds;
  outbox: Outbox;
  rulesets: ReadonlyMap<string, Ruleset>;
  now(): number;
  /** Stage changes to a cloud in its mailbox and commit them. */
  commitIn(cloudId: CloudId, stage: (tx: Tx, cloud: CloudState) => Promise<void>): Promise<void>;
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

  constructor(private readonly deps: TransferDeps) {}

  /** Hold the subtree under `root`, wait until nothing runs in it, and read it. With `leaving`, also take its outbox. */
  async seize(root: CloudId, leaving: boolean): Promise<Seized> {
    const { clouds } = this.deps;
    const ids = new Set<CloudId>();
    // Held level by level until no new cloud turns up: a held parent can no longer make children.
    for (let fresh: CloudId[] = [root]; fresh.length > 0; ) {
      clouds.hold(fresh);
      for (const id of fresh) ids.add(id);
      await Promise.all(fresh.map((id) => clouds.quiesce(id)));
      const { clouds: metas } = await readSubtree(this.deps.store, root);
      fresh = metas.map((m) => m.id).filter((id) => !ids.has(id));
    }
    const { clouds: metas, records } = await readSubtree(this.deps.store, root);
    const taken = leaving ? await this.deps.outbox.take(ids) : [];
    return {
      bundle: { root, clouds: metas, records: records.map((r) => [r.key, r.value]), outbox: taken.map((t) => t.entry) },
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
   * The subtree leaves this host: deleted in its parent's batch with its undelivered events (they
   * travel with it), leaving a forwarding address per ECI when `movedTo` is given. Work that waited
   * for it then finds it gone and looks for it again.
   */
  async leave(seized: Seized, movedTo?: string): Promise<void> {
    const { bundle, ids } = seized;
    const root = bundle.clouds[0]!;
    if (root.parent === null) throw new InvalidArgsError('the root cloud of a host cannot leave it');
    try {
      await this.deps.commitIn(root.parent, async (tx) => {
        tx.deletions.push(root.id);
        tx.stage([del(keys.child(root.parent!, root.id)), ...seized.outboxKeys.map((k) => del(k))], (c) => c.children.delete(root.id));
        if (movedTo !== undefined) {
          const time = this.deps.now();
          tx.stage(bundleEcis(bundle).map((eci) => put(keys.tombstone(eci), { movedTo, time })));
        }
      });
    } catch (err) {
      this.stay(seized);
      throw err;
    }
    this.deps.outbox.giveUp(ids);
    this.deps.clouds.release(ids);
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
    const missing = bundleRulesets(bundle).filter((rid) => !this.deps.rulesets.has(rid));
    if (missing.length > 0) throw new MissingRulesetsError(missing);
    const { store } = this.deps;
    const clouds = (await Promise.all(bundle.clouds.map(async (c) => ((await store.get(keys.meta(c.id))) ? c.id : null)))).filter((x) => x !== null);
    if (clouds.length > 0) throw new ImportConflictError('clouds with these ids', clouds);
    const ecis = bundleEcis(bundle);
    const taken = (await Promise.all(ecis.map(async (e) => ((await store.get(keys.eciIndex(e))) ? e : null)))).filter((x) => x !== null);
    if (taken.length > 0) throw new ImportConflictError('these ECIs', taken);
    const root = bundle.clouds[0]!;
    const handle = bundle.records.find(([k, v]) => k.startsWith(keys.eci(root.id, '')) && (v as { tags?: string[] }).tags?.includes(SYSTEM_TAG));
    if (!handle) throw new InvalidCloudFileError('corrupt', 'the cloud file is corrupt: its top cloud has no system ECI to hand to its new parent');
    const child: ChildInfo = { id: root.id, name: root.name, eci: (handle[1] as { id: ChildInfo['eci'] }).id };
    await this.deps.commitIn(parent, async (tx, cloud) => {
      if (cloud.children.byName(root.name) !== undefined) throw new DuplicateNameError(`cloud ${cloud.meta.name} already has a child named ${JSON.stringify(root.name)}`, { name: root.name });
      const ops: WriteOp[] = [...bundleOps(bundle), put(keys.meta(root.id), { ...root, parent: cloud.id }), put(keys.child(cloud.id, root.id), child)];
      // An ECI coming back to a host it once left is no longer forwarded.
      for (const eci of ecis) ops.push(del(keys.tombstone(eci)));
      tx.stage(ops, (c) => c.children.set(root.id, child));
      this.deps.outbox.adopt(tx, bundle.outbox);
      extra(tx);
    });
    return child;
  }
}
