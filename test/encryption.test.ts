import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, cp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Level } from 'level';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openDataDir, rotateDataDirKey, upgradeDataDir } from '../channels/data-dir.ts';
import { keyringFile, newKeyText } from '../channels/host-key.ts';
import { eciOfIndexKey, Keyring, keys, openLevelStore, put, ranges, rotateCloudKey, type Host, type LevelStore } from '../kernel/index.ts';
import { Sealer } from '../kernel/store/sealing.ts';
import { ruleset } from '../rulesets/index.ts';
import { install, newChild, rejection } from './fixtures.ts';
import { onCleanup, tempDir, testHost } from './helpers.ts';
import { runKumo } from './server-harness.ts';

// The sealed store (docs/encryption.md): nothing of a person's data or capabilities in the clear
// on disk, deleted clouds unreadable, and every key failure a clear refusal that loses nothing.

const secret = (): string => `S3cr3t-${randomBytes(18).toString('base64url')}`;

/** `test.keeper`: keeps a secret in its entity state, logs it in an error, and sends it in an event. */
const keeper = ruleset('test.keeper', { version: '1.0.0' })
  .rule('keep', {
    select: 'keep:it',
    attrs: z.object({ secret: z.string() }),
    action(ctx) {
      ctx.ent.set('secret', ctx.attrs.secret);
      ctx.directive('kept', { secret: ctx.attrs.secret });
    },
  })
  .rule('fail', {
    select: 'keep:fail',
    attrs: z.object({ secret: z.string() }),
    action(ctx) {
      throw new Error(`failed on ${ctx.attrs.secret}`);
    },
  })
  .rule('pass', {
    select: 'keep:pass',
    attrs: z.object({ eci: z.string(), secret: z.string() }),
    action(ctx) {
      ctx.send(ctx.attrs.eci, 'keep', 'it', { secret: ctx.attrs.secret });
    },
  })
  .share('secret', (ctx) => ctx.ent.get('secret') ?? null)
  .build();

/** Every file under `dir`, as bytes. */
async function files(dir: string): Promise<Array<[string, Buffer]>> {
  const out: Array<[string, Buffer]> = [];
  for (const name of await readdir(dir, { recursive: true })) {
    const path = join(dir, name);
    if ((await stat(path)).isFile()) out.push([name, await readFile(path)]);
  }
  return out;
}

/** The needles found in some file of `dir` (as UTF-8), with the file. */
async function found(dir: string, needles: string[]): Promise<string[]> {
  const hits: string[] = [];
  for (const [name, bytes] of await files(dir)) for (const n of needles) if (bytes.includes(Buffer.from(n))) hits.push(`${n} in ${name}`);
  return hits;
}

/** Plant `s` everywhere a person's data goes: entity state, an event's attributes (sent between clouds), the log, a child's name; returns the ECIs made. */
async function plant(host: Host, rootEci: string, s: string): Promise<{ child: { eci: string; id: string }; ecis: string[] }> {
  await install(host, rootEci, 'test.keeper');
  const child = await newChild(host, rootEci, `child-${s}`);
  await install(host, child.eci, 'test.keeper');
  expect((await host.event({ eci: rootEci, domain: 'keep', type: 'it', attrs: { secret: s } })).directives[0]?.options).toEqual({ secret: s });
  await host.event({ eci: rootEci, domain: 'keep', type: 'fail', attrs: { secret: s } }).catch(() => undefined);
  await host.event({ eci: rootEci, domain: 'keep', type: 'pass', attrs: { eci: child.eci, secret: s } });
  const made = await host.event({ eci: rootEci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['known'] } });
  const eci = (made.directives[0]?.options as { id: string }).id;
  return { child, ecis: [rootEci, child.eci, eci] };
}

const secretOf = async (host: Host, eci: string): Promise<unknown> => host.query({ eci, rid: 'test.keeper', name: 'secret', args: {} });

describe('a sealed store', { timeout: 60_000 }, () => {
  it('holds no secret, ECI or name in the clear: running, after a restart, after a compaction (and an unsealed store, the control, does)', async () => {
    const s = secret();
    // The control: the same planting in a store written without sealing is found by the same scan.
    const plainDir = await tempDir();
    const plain = await testHost({ store: await openLevelStore(plainDir), rulesets: [keeper] });
    const p = await plant(plain.host, plain.root.eci, s);
    expect(await found(plainDir, [s, ...p.ecis])).toEqual(expect.arrayContaining([expect.stringContaining(s), expect.stringContaining(p.ecis[1]!)]));
    await plain.host.close();

    const dir = await tempDir();
    const first = await testHost({ dir, rulesets: [keeper] });
    const { child, ecis } = await plant(first.host, first.root.eci, s);
    expect(await secretOf(first.host, child.eci)).toBe(s);
    const needles = [s, ...ecis];
    expect(await found(dir, needles)).toEqual([]);
    await first.host.close();
    expect(await found(dir, needles)).toEqual([]);

    const again = await testHost({ dir, rulesets: [keeper] });
    expect(await secretOf(again.host, first.root.eci)).toBe(s);
    expect(await secretOf(again.host, child.eci)).toBe(s);
    expect(await found(dir, needles)).toEqual([]);
    await again.host.close();

    const store = (await openDataDir(dir)) as LevelStore;
    await store.compact();
    expect((await store.keys(ranges.eciIndex())).map(eciOfIndexKey)).toEqual(expect.arrayContaining(ecis));
    await store.close();
    expect(await found(dir, needles)).toEqual([]);
  });

  it('after a cloud is deleted, its records copied from the files before cannot be opened with anything the host keeps; its bucket neighbour still opens', async () => {
    const dir = await tempDir();
    const { host, root } = await testHost({ dir, rulesets: [keeper] });
    const ring = await Keyring.open(keyringFile(dir), { key: Buffer.from((await readFile(`${dir}.key`, 'utf8')).trim(), 'base64url') });
    // Two children in one bucket: the one deleted, and its neighbour, whose key is wrapped again.
    const byBucket = new Map<number, { eci: string; id: string }>();
    let pair: [{ eci: string; id: string }, { eci: string; id: string }] | undefined;
    for (let i = 0; !pair; i++) {
      const c = await newChild(host, root.eci, `c${i}`);
      const other = byBucket.get(ring.bucketOf(c.id));
      if (other) pair = [c, other];
      else byBucket.set(ring.bucketOf(c.id), c);
    }
    const [doomed, neighbour] = pair;
    const s = secret();
    for (const c of pair) {
      await install(host, c.eci, 'test.keeper');
      await host.event({ eci: c.eci, domain: 'keep', type: 'it', attrs: { secret: s } });
    }
    await host.close();
    const copy = join(await tempDir(), 'copy');
    await cp(dir, copy, { recursive: true });

    const again = await testHost({ dir, rulesets: [keeper] });
    await again.host.event({ eci: root.eci, domain: 'wrangler', type: 'child_deletion_request', attrs: { id: doomed.id } });
    expect(await secretOf(again.host, neighbour.eci)).toBe(s);
    await again.host.close();

    // What the host keeps now: its keyring (the host key opens it) and its store.
    const now = await Keyring.open(keyringFile(dir), { key: Buffer.from((await readFile(`${dir}.key`, 'utf8')).trim(), 'base64url') });
    const b = now.bucketOf(doomed.id);
    expect(now.wrapping(b).gen).toBe(2);
    expect(now.keyOf(b, 1)).toBeUndefined();
    const old = new Level<string, Uint8Array>(copy, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await old.open();
    onCleanup(() => old.close());
    const sealer = new Sealer(now, old);
    const rows = await old.iterator({ gte: `c!${doomed.id}!`, lt: `c!${doomed.id}"` }).all();
    expect(rows.length).toBeGreaterThan(3);
    for (const [k, v] of rows) expect(sealer.open(k, v)).toBeUndefined();
    // The old copy's records of the neighbour were sealed by its key, which the host still has (wrapped anew).
    const live = await openDataDir(dir);
    expect((await live.entries(ranges.cloud(neighbour.id))).length).toBeGreaterThan(3);
    expect(await live.entries(ranges.cloud(doomed.id))).toEqual([]);
    await live.close();
  });

  it('refuses a wrong host key, a missing key file and a damaged keyring, writing nothing; a damaged wrapped key is a clear error for that cloud alone', async () => {
    const dir = await tempDir();
    const { host, root } = await testHost({ dir, rulesets: [keeper] });
    const child = await newChild(host, root.eci, 'kid');
    await host.close();
    const before = await files(dir);
    const refusal = (p: Promise<unknown>) =>
      p.then(
        () => ({ code: 'none', message: '' }),
        (err: { code: string; message: string }) => err,
      );

    expect(await refusal(openDataDir(dir, { keys: { env: { KUMO_HOST_KEY: newKeyText() } } }))).toMatchObject({ code: 'KEY_WRONG', message: expect.stringContaining('does not open this store') });
    expect(await refusal(openDataDir(dir, { keys: { env: { KUMO_HOST_PASSPHRASE: 'guess' } } }))).toMatchObject({ code: 'KEY_WRONG' });
    expect(await refusal(openDataDir(dir, { keys: { env: { KUMO_HOST_KEY: 'short' } } }))).toMatchObject({ code: 'KEY_WRONG', message: expect.stringContaining('43 characters') });
    const keyText = await readFile(`${dir}.key`, 'utf8');
    await rm(`${dir}.key`);
    expect(await refusal(openDataDir(dir))).toMatchObject({ code: 'KEY_MISSING', message: expect.stringContaining(`${dir}.key is missing`) });
    await writeFile(`${dir}.key`, keyText);
    const ring = await readFile(keyringFile(dir), 'utf8');
    const file = JSON.parse(ring) as { sealed: string };
    const bytes = Buffer.from(file.sealed, 'base64');
    bytes[40] = bytes[40]! ^ 1;
    await writeFile(keyringFile(dir), JSON.stringify({ ...file, sealed: bytes.toString('base64') }));
    expect(await refusal(openDataDir(dir))).toMatchObject({ code: 'KEYRING_DAMAGED' });
    await writeFile(keyringFile(dir), '{"kumo":');
    expect(await refusal(openDataDir(dir))).toMatchObject({ code: 'KEYRING_DAMAGED' });
    await writeFile(keyringFile(dir), ring);
    // Nothing was written by any refusal: the store's files are as they were.
    expect(await files(dir)).toEqual(before);

    // One byte of a cloud's wrapped data key changed: that cloud is refused, naming the record; the others work.
    const raw = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await raw.open();
    const [k, v] = (await raw.iterator({ gte: 'x!', lt: 'x"' }).all()).find(([key]) => key.endsWith(child.id))!;
    const bad = Buffer.from(v);
    bad[20] = bad[20]! ^ 1;
    await raw.put(k, bad);
    await raw.close();
    const again = await testHost({ dir, rulesets: [keeper] });
    const err = await rejection(again.host.event({ eci: child.eci, domain: 'keep', type: 'it', attrs: { secret: 'x' } }));
    expect(err).toMatchObject({ code: 'STORE_CORRUPT', status: 500, message: expect.stringContaining('does not authenticate') });
    expect((await again.host.event({ eci: root.eci, domain: 'keep', type: 'it', attrs: { secret: 'y' } })).directives).toHaveLength(0);
    await again.host.close();
  });

  it('a store sealed by a passphrase opens with it alone, and a rotation moves it to a new passphrase', async () => {
    const dir = await tempDir();
    const env = { KUMO_HOST_PASSPHRASE: 'correct horse battery staple' };
    const store = await openDataDir(dir, { keys: { env } });
    await store.write([put(keys.entity('Cabc', 'r', 'x'), 'kept')]);
    await store.close();
    await expect(access(`${dir}.key`)).rejects.toThrow();
    expect(await openDataDir(dir, { keys: { env: { KUMO_HOST_PASSPHRASE: 'wrong horse' } } }).catch((e: { code: string }) => e)).toMatchObject({ code: 'KEY_WRONG' });
    expect(await openDataDir(dir).catch((e: { code: string }) => e)).toMatchObject({ code: 'KEY_MISSING' });
    await expect(rotateDataDirKey(dir, { env })).rejects.toMatchObject({ code: 'KEY_WRONG', message: expect.stringContaining('KUMO_NEW_HOST_PASSPHRASE') });
    await rotateDataDirKey(dir, { env, next: { passphrase: 'a new one' } });
    expect(await openDataDir(dir, { keys: { env } }).catch((e: { code: string }) => e)).toMatchObject({ code: 'KEY_WRONG' });
    const again = await openDataDir(dir, { keys: { env: { KUMO_HOST_PASSPHRASE: 'a new one' } } });
    expect(await again.get(keys.entity('Cabc', 'r', 'x'))).toBe('kept');
    await again.close();
  });

  it('a host key rotation killed (SIGKILL) at each step leaves a store that opens with its data; the old key file opens nothing after', async () => {
    for (const step of ['key-written', 'keyring-sealed', 'none']) {
      const dir = await tempDir();
      const s = secret();
      const first = await testHost({ dir, rulesets: [keeper] });
      await install(first.host, first.root.eci, 'test.keeper');
      await first.host.event({ eci: first.root.eci, domain: 'keep', type: 'it', attrs: { secret: s } });
      await first.host.close();
      const oldKey = await readFile(`${dir}.key`, 'utf8');
      const script = `import { rotateHostKey } from './channels/host-key.ts';
await rotateHostKey(${JSON.stringify(dir)}, { crashAt: (step) => { if (step === ${JSON.stringify(step)}) process.kill(process.pid, 'SIGKILL'); } });`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
      expect(r.signal).toBe(step === 'none' ? null : 'SIGKILL');
      const again = await testHost({ dir, rulesets: [keeper] });
      expect(await secretOf(again.host, first.root.eci)).toBe(s);
      await again.host.close();
      const rotated = (await readFile(`${dir}.key`, 'utf8')) !== oldKey;
      expect(rotated).toBe(step !== 'key-written');
      if (rotated) expect((await openDataDir(dir, { keys: { env: { KUMO_HOST_KEY: oldKey.trim() } } }).catch((e: { code: string }) => e)) as { code: string }).toMatchObject({ code: 'KEY_WRONG' });
    }
  });

  it("rotates one cloud's data key: its records (and pending events) sealed again, the old key erased", async () => {
    const dir = await tempDir();
    const { host, root } = await testHost({ dir, rulesets: [keeper] });
    const { child } = await plant(host, root.eci, secret());
    await host.close();
    const copy = join(await tempDir(), 'copy');
    await cp(dir, copy, { recursive: true });
    const store = await openDataDir(dir);
    expect(await rotateCloudKey(store, child.id as never)).toBeGreaterThan(3);
    await store.close();
    const again = await testHost({ dir, rulesets: [keeper] });
    expect(await secretOf(again.host, child.eci)).toMatch(/^S3cr3t-/);
    await again.host.close();
    const now = await Keyring.open(keyringFile(dir), { key: Buffer.from((await readFile(`${dir}.key`, 'utf8')).trim(), 'base64url') });
    const old = new Level<string, Uint8Array>(copy, { keyEncoding: 'utf8', valueEncoding: 'view' });
    await old.open();
    onCleanup(() => old.close());
    const rows = await old.iterator({ gte: `c!${child.id}!`, lt: `c!${child.id}"` }).all();
    for (const [k, v] of rows) expect(new Sealer(now, old).open(k, v)).toBeUndefined();
  });

  it('kumo keys rotate and kumo upgrade, on a stopped host only; a wrong key or a bad cloud id changes nothing', async () => {
    const dir = join(await tempDir(), 'data');
    const first = await testHost({ dir, rulesets: [keeper] });
    const child = await newChild(first.host, first.root.eci, 'kid');
    await install(first.host, child.eci, 'test.keeper');
    await first.host.event({ eci: child.eci, domain: 'keep', type: 'it', attrs: { secret: 'kept' } });
    // While a host runs on it, nothing may change its keys.
    expect(await runKumo(['keys', 'rotate', '--data', dir])).toMatchObject({ code: 1, stderr: expect.stringContaining('is in use by another kumo host') });
    await first.host.close();
    const oldKey = await readFile(`${dir}.key`, 'utf8');
    expect(await runKumo(['keys', 'rotate', '--data', dir], { KUMO_HOST_KEY: newKeyText() })).toMatchObject({ code: 1, stderr: expect.stringContaining('does not open this store') });
    expect(await runKumo(['keys', 'rotate', '--data', dir, '--cloud', 'nope'])).toMatchObject({ code: 2, stderr: expect.stringContaining('is not a cloud id') });
    expect(await readFile(`${dir}.key`, 'utf8')).toBe(oldKey);
    const rotated = await runKumo(['keys', 'rotate', '--data', dir]);
    expect(rotated).toMatchObject({ code: 0, stdout: expect.stringMatching(/^the keyring of .+ is sealed by host key [0-9a-f]{16}, now in .+data\.key: keep a copy of it\n$/) });
    expect(await readFile(`${dir}.key`, 'utf8')).not.toBe(oldKey);
    const cloud = await runKumo(['keys', 'rotate', '--data', dir, '--cloud', child.id, '--json']);
    expect(JSON.parse(cloud.stdout)).toEqual({ cloud: child.id, records: expect.any(Number) });
    expect(await runKumo(['upgrade', '--data', dir])).toMatchObject({ code: 0, stdout: `${dir} is sealed already\n` });
    const again = await testHost({ dir, rulesets: [keeper] });
    expect(await secretOf(again.host, child.eci)).toBe('kept');
    await again.host.close();
  });

  it('upgrades a store written before sealing in place, resuming after a SIGKILL midway; a host refuses the unsealed or half-sealed directory until then', async () => {
    const dir = await tempDir();
    const s = secret();
    const plain = await testHost({ store: await openLevelStore(dir), rulesets: [keeper] });
    const { child, ecis } = await plant(plain.host, plain.root.eci, s);
    for (let i = 0; i < 30; i++) await newChild(plain.host, plain.root.eci, `n${i}`);
    await plain.host.close();
    await writeFile(join(dir, 'root.eci'), `${plain.root.eci}\n`, { mode: 0o600 });
    expect((await openDataDir(dir).catch((e: { code: string }) => e)) as { code: string }).toMatchObject({ code: 'DATA_DIR_UNSEALED' });

    // Killed after its first batch of 100 records.
    const script = `import { LevelStore } from './kernel/index.ts';
const seal = LevelStore.prototype.sealInPlace;
LevelStore.prototype.sealInPlace = function (_n, onBatch) { return seal.call(this, 100, (n) => { onBatch?.(n); process.kill(process.pid, 'SIGKILL'); }); };
const { upgradeDataDir } = await import('./channels/data-dir.ts');
await upgradeDataDir(${JSON.stringify(dir)});`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd(), encoding: 'utf8' });
    expect(r.signal).toBe('SIGKILL');
    expect((await openDataDir(dir).catch((e: { code: string; message: string }) => e)) as { code: string }).toMatchObject({ code: 'DATA_DIR_UNSEALED', message: expect.stringContaining('interrupted') });

    expect(await upgradeDataDir(dir)).toBeGreaterThan(0);
    expect(await upgradeDataDir(dir)).toBe(0);
    expect(await found(dir, [s, ...ecis])).toEqual([]);
    expect((await readFile(`${dir}.eci`, 'utf8')).trim()).toBe(plain.root.eci);
    const again = await testHost({ dir, rulesets: [keeper] });
    expect(again.root).toMatchObject({ eci: plain.root.eci, created: false });
    expect(await secretOf(again.host, child.eci)).toBe(s);
    await again.host.close();
  });
});
