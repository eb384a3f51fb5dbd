import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { Keyring, LevelStore, put, keys } from './kernel/index.ts';
import { Sealer } from './kernel/store/sealing.ts';
const variants = process.argv.slice(2);
for (const mode of variants) {
  const dir = await mkdtemp(join(tmpdir(), 'wr-'));
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  await db.open();
  const ring = await Keyring.create(join(dir, 'ring'), { key: Buffer.alloc(32, 1) });
  const sealer = new Sealer(ring, db as never);
  if (mode === 'nocrypto') { (sealer as any).seal = (_k: string, _p: string, b: Uint8Array) => Buffer.concat([Buffer.from([0xc1, 1, 0]), b]); }
  const store = mode === 'plain' ? new LevelStore(db as never) : new LevelStore(db as never, false, sealer);
  const N = 20000;
  const t = performance.now();
  for (let i = 0; i < N; i++) {
    await store.write([put(keys.entity('C0123456789abcdefghij', 'bench.counter', 'count'), i), put(keys.log('C0123456789abcdefghij', i), { seq: i, eid: 'e' + i, domain: 'bench', type: 'inc', time: 1, selected: ['bench.counter/inc'], fired: ['bench.counter/inc'], directives: [{ name: 'count', rid: 'bench.counter', rule: 'inc' }], raised: 0, ms: 0.1 } as never), put(keys.applied('C0123456789abcdefghij', 'e' + i), 1)]);
  }
  const ms = performance.now() - t;
  console.log(mode, Math.round(N / ms * 1000), 'writes/s', (ms / N * 1000).toFixed(1), 'us each');
  await store.close();
  console.log('  seal us', ((globalThis as any).T1 ?? 0) / N * 1000, 'write us', (globalThis as any).T2 / N * 1000); (globalThis as any).T1 = 0; (globalThis as any).T2 = 0;
}
