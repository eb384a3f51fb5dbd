import { eciOf, type Active, type CloudTask } from '../clouds/activation.ts';
import { isDeletion } from '../clouds/deletions.ts';
import { runQuery } from '../episodes/query.ts';
import { InvalidArgsError, PolicyDeniedError, ShuttingDownError } from '../errors.ts';
import { isCloudId, type CloudId } from '../ids.ts';
import type { HostParts } from '../host-parts.ts';
import { sameBase } from '../host-parts.ts';
import { eventAllowed } from '../capabilities/policy.ts';
import { del, type WriteOp } from '../store/store.ts';
import { keys } from '../store/keys.ts';
import { bundleEcis, checkBundle } from '../transfers/bundle.ts';
import type { LocalOnly } from './dispatch.ts';
import { queryRequest, receivedEvent } from './inputs.ts';
import type { AccessAction, Answer, Op, RequestOf } from './request.ts';
import type { Viewer } from '../capabilities/sign-in.ts';
import { aloneRouter } from './router.ts';
import { describe } from '../validate.ts';

/**
 * The operations a host serves (docs/architecture.md): for each request of the union in request.ts,
 * how this host runs it. One about an ECI runs in that ECI's cloud when this host has it, and goes
 * to the router otherwise (the `remote` part, plain forwarding unless said); `kind` counts
 * refusals by kind and keeps the request from starting once the host is closing.
 */
interface Operation<K extends Op> {
  kind?: 'event' | 'query' | 'claim';
  run(p: HostParts, req: RequestOf<K>, opts: LocalOnly): Promise<Answer<K>>;
}

type Table = { [K in Op]: Operation<K> };

/**
 * Hand a request to the router: what another host answers is its answer (not a refusal of this
 * host). A host alone has no other host: its own refusal (aloneRouter) stays its own.
 */
function forward<K extends Op>(p: HostParts, req: RequestOf<K>): Promise<Answer<K>> {
  if (!p.router) return aloneRouter.forward(req);
  return p.router.forward(req).catch((err: unknown) => {
    throw p.reportedBy(err);
  });
}

/** Run `local` in the cloud of the request's ECI when this host has it; else forward the request (a host alone: unknown). */
function onCloud<K extends Op>(p: HostParts, req: RequestOf<K> & { eci: string }, opts: LocalOnly, local: CloudTask<Answer<K>>): Promise<Answer<K>> {
  return p.dispatcher.dispatch(req.eci, opts, local, p.router ? () => forward<K>(p, req as RequestOf<K>) : undefined);
}

/**
 * Check an event that came from another host (`local`): its shape, eid and event time. An event
 * made on this host was checked when it was made (requests/inputs.ts), and is not encoded twice.
 */
function fromWire(p: HostParts, req: RequestOf<'event' | 'accept'>, opts: LocalOnly): void {
  if (opts.local) receivedEvent(req, p.limits.attrsBytes);
}

/** Run `local` in the cloud of `eci`, on this host only. */
function here<T>(p: HostParts, eci: string, local: CloudTask<T>): Promise<T> {
  return p.dispatcher.dispatch(eci, { local: true }, local);
}

/**
 * The kernel's deletion of the cloud of `a`, sent by its parent's host (clouds/deletions.ts): the
 * cloud and its subtree go, with `consume` in the same batch (and deletions of its clouds further
 * away). `eci` must carry the cloud's full authority, as the parent's ECI on it does.
 */
function deleteHere(p: HostParts, a: Active, eci: string, consume: WriteOp[]): Promise<void> {
  eciOf(a, eci, { full: 'deleting the cloud' });
  const id = a.state.id;
  if (a.state.meta.parent === null) throw new PolicyDeniedError('deleting the root cloud of a host', eci);
  return p.clouds.deleteSubtrees([{ id }], async (ops, elsewhere) => {
    const sent = p.outbox.deletions(id, elsewhere);
    await p.committer.commit([...ops, ...consume, ...sent.ops]);
    sent.start();
  });
}

export const OPERATIONS: Table = {
  event: {
    kind: 'event',
    run: (p, req, opts) => {
      fromWire(p, req, opts);
      return onCloud(p, req, opts, (a) => p.runIn(a, req.event, { via: req.eci, idempotencyKey: req.idempotencyKey }));
    },
  },

  accept: {
    kind: 'event',
    run: (p, req, opts) => {
      fromWire(p, req, opts);
      return onCloud(p, req, opts, (a) => {
        const info = eciOf(a, req.eci);
        const { domain, type } = req.event;
        if (!eventAllowed(info.eventPolicy, domain, type)) throw new PolicyDeniedError(`event ${domain}:${type}`, req.eci);
        const { accepted, run } = p.inbox.accept(a, req);
        void p.track(run);
        return accepted;
      });
    },
  },

  receive: {
    kind: 'event',
    run: (p, req) => {
      const event = receivedEvent(req, p.limits.attrsBytes);
      return here(p, req.eci, async (a) => {
        if (isDeletion(event)) {
          await deleteHere(p, a, req.eci, []);
          return { eid: event.eid, directives: [], duplicate: false };
        }
        const o = await a.mailbox.post(() => p.runner.run(a, event, { via: req.eci, dedupe: true, idempotencyKey: req.idempotencyKey }));
        if (o.ok) return { ...o.result, duplicate: o.duplicate };
        // Applied and failed: its failure is in the cloud's log, and it is not to be sent again.
        if (o.ran) return { eid: event.eid, directives: [], duplicate: false };
        throw o.error;
      });
    },
  },

  deliver: {
    async run(p, req) {
      const consume = [del(keys.outbox(req.seq))];
      // To another provider's host: taken once that host has it.
      if (req.host !== undefined) {
        await p.remote.deliver(req.host, { eci: req.eci, event: req.event });
        return p.committer.commit(consume);
      }
      return p.dispatcher.dispatch(
        req.eci,
        {},
        async (a) => {
          if (isDeletion(req.event)) return deleteHere(p, a, req.eci, consume);
          const o = await a.mailbox.post(() => p.runner.run(a, req.event, { via: req.eci, dedupe: true, always: (tx) => tx.stage(consume) }));
          if (!o.ok && !o.consumed) throw o.error;
        },
        p.router
          ? async () => {
              await p.router!.forward(req);
              await p.committer.commit(consume);
            }
          : undefined,
      );
    },
  },

  bounce: {
    run: (p, req) => {
      // From another host: its cloud id is checked, not trusted.
      if (!isCloudId(req.cloudId)) throw new InvalidArgsError(`a bounce needs the id of the sending cloud, got ${describe(req.cloudId)}`);
      return p.outbox.bounce(req.cloudId, { eci: req.eci, event: req.event }, req.reason);
    },
  },

  query: {
    kind: 'query',
    run: (p, req, opts) => {
      if (opts.local) queryRequest(req, p.limits.attrsBytes);
      return onCloud(p, req, opts, async (a) => {
        const o = await a.mailbox.post(() => runQuery(p.queryEnv, a, req));
        if (o.ok) return o.value;
        throw o.ran ? p.reportedBy(o.error) : o.error;
      });
    },
  },

  claim: {
    kind: 'claim',
    // The host owning the code's partition holds the device cloud, and spends its own budget for failed claims.
    run: (p, req, opts) => (opts.local || p.owned.has(req.partition) ? p.claims.claim(req.code) : forward(p, req)),
  },

  eciInfo: { run: (p, req, opts) => onCloud(p, req, opts, (a) => ({ ...structuredClone(eciOf(a, req.eci)), cloudId: a.state.id })) },

  log: {
    run: (p, req, opts) => onCloud(p, req, opts, (a) => p.log.read(cloudOf(a, req.eci, { system: 'reading the episode log' }), req.limit)),
  },

  deadLetters: {
    run: (p, req, opts) => onCloud(p, req, opts, (a) => p.outbox.deadLetters(cloudOf(a, req.eci, { system: 'reading dead letters' }))),
  },

  export: {
    async run(p, req) {
      const cloudId = await here(p, req.eci, (a) => cloudOf(a, req.eci, { full: 'exporting the cloud' }));
      const seized = await p.transfers.seize(cloudId, req.movedTo !== undefined);
      const url = p.url();
      const bundle = url === undefined ? seized.bundle : { ...seized.bundle, from: url };
      if (req.movedTo === undefined) {
        p.transfers.stay(seized);
        return bundle;
      }
      await p.transfers.leave(seized, req.movedTo);
      return bundle;
    },
  },

  import: {
    async run(p, req) {
      const parent = await here(p, req.eci, (a) => cloudOf(a, req.eci, { full: 'importing clouds under it' }));
      const bundle = checkBundle(req.bundle);
      const ecis = bundleEcis(bundle);
      const url = p.url();
      const from = bundle.from !== undefined && !(url !== undefined && sameBase(bundle.from, url)) ? bundle.from : undefined;
      // What its clouds sent to ECIs of the host they left goes there now (a cloud that came along answers 410 and is followed back here).
      const inside = new Set(ecis);
      const outbox = from === undefined ? bundle.outbox : bundle.outbox.map((e) => (e.host === undefined && !inside.has(e.eci) ? { ...e, host: from } : e));
      const child = await p.transfers.land(parent, { ...bundle, outbox });
      await forward(p, { op: 'adopt', ecis });
      // Rules keeping addresses (links) hear where their cloud came from: what was local there is not here.
      if (from !== undefined) for (const cloud of bundle.clouds) await p.notify(cloud.id, 'cloud_imported', { from });
      return child;
    },
  },

  // The realm runs a move (channels/realm/mover.ts), on the host that has the cloud: the steps below.
  move: { run: (p, req) => forward(p, req) },
  adopt: { run: (p, req) => forward(p, req) },

  moveOut: {
    async run(p, req) {
      const root = await here(p, req.eci, (a) => cloudOf(a, req.eci, { full: 'moving the cloud' }));
      return p.transfers.beginMoveOut(req.id, root, req.to);
    },
  },
  moveLeave: { run: (p, req) => p.transfers.endMoveOut(req.id) },
  moveStay: { run: (p, req) => p.transfers.abortMoveOut(req.id) },
  moveLand: { run: (p, req) => p.transfers.landPending(req.id, req.from, req.bundle) },
  moveLive: { run: (p, req) => p.transfers.goLive(req.id) },
  moveDrop: { run: (p, req) => p.transfers.dropLanded(req.id) },
  moveHalt: { run: (p) => Promise.resolve(p.clouds.failWaiters(new ShuttingDownError())) },
  moves: { run: (p) => p.transfers.inFlight() },

  signinCode: { run: (p, req, opts) => onCloud(p, req, opts, (a) => p.signIn.codeFor(a, req.eci)) },
  signin: {
    kind: 'claim',
    run: (p, req, opts) => {
      if (!(opts.local || p.owned.has(req.partition))) return forward(p, req);
      if (req.passkey) return p.signIn.withPasskey(req.passkey.cloudId, req.passkey.credId, req.passkey.counter, req.label);
      return p.signIn.withCode(req.code, req.label);
    },
  },
  passkey: { run: (p, req, opts) => (opts.local || p.owned.has(req.partition) ? p.signIn.passkey(req.cloudId, req.credId) : forward(p, req)) },
  access: {
    async run(p, req, opts) {
      if ('eci' in req) return onCloud(p, req, opts, (a) => access(p, a, { cloudId: a.state.id, eci: eciOf(a, req.eci).id }, req.action));
      if (!(opts.local || p.owned.has(req.partition))) return forward(p, req);
      const session = await p.signIn.check(req.token);
      if (req.action.do === 'check') return session;
      return p.clouds.with(session.cloudId, async (a) => access(p, a, await p.signIn.check(req.token), req.action));
    },
  },
};

/** What a session or an ECI (`viewer`) does about the sign-ins of its cloud, in its mailbox. */
const ACCESS: { [D in AccessAction['do']]: (p: HostParts, a: Active, viewer: Viewer, action: Extract<AccessAction, { do: D }>) => Promise<unknown> } = {
  check: (_p, _a, viewer) => Promise.resolve(viewer),
  list: (p, a, viewer) => p.signIn.view(a, viewer),
  revoke: (p, a, viewer, action) => p.signIn.revoke(a, viewer, action.sid),
  addPasskey: (p, a, viewer, action) => p.signIn.addPasskey(a, viewer, action.passkey),
  removePasskey: (p, a, viewer, action) => p.signIn.removePasskey(a, viewer, action.credId),
};

function access(p: HostParts, a: Active, viewer: Viewer, action: AccessAction): Promise<unknown> {
  const run = ACCESS[action.do] as (p: HostParts, a: Active, viewer: Viewer, action: AccessAction) => Promise<unknown>;
  if (typeof run !== 'function') throw new InvalidArgsError(`no access action ${describe(action.do)}`);
  return run(p, a, viewer, action);
}

/** The cloud of `a`, when `eci` is one of its ECIs with what `needs` asks (see {@link eciOf}). */
function cloudOf(a: Active, eci: string, needs: { full?: string; system?: string }): CloudId {
  eciOf(a, eci, needs);
  return a.state.id;
}
