/**
 * (g2) Cloud files: export and import of a cloud holding 100,000 records, hosts alone on LevelDB
 * in this process. Export: the subtree read whole and written as a file (plain, and encrypted);
 * import: the file read, checked and written in one batch under another host's root. The imported
 * cloud is then asked for one of its keys, to show it is whole.
 *
 *   node bench/.data/build/bench/cloud-file.js [--records 100000]
 */
import { parseArgs } from 'node:util';
import { readCloudFile, writeCloudFile } from '../channels/cloud-file.ts';
import { openHost } from '../channels/open-node.ts';
import { dataDir, emit, fillRuleset, machine, removeDir, round } from './lib.ts';

const { values: args } = parseArgs({ options: { records: { type: 'string', default: '100000' } } });

const records = Number(args.records);
const [srcDir, dstDir] = await Promise.all([dataDir('g2-source'), dataDir('g2-target')]);
const source = await openHost({ dataDir: srcDir, rulesets: [fillRuleset] });
const target = await openHost({ dataDir: dstDir, rulesets: [fillRuleset] });
try {
  const made = await source.event({ eci: (await source.root()).eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'big', rids: ['bench.fill'] } });
  const eci = made.directives[0]!.options['eci'] as string;
  for (let from = 0; from < records; from += 1_000) await source.event({ eci, domain: 'fill', type: 'keys', attrs: { from, count: Math.min(1_000, records - from) } });

  let t = performance.now();
  const bundle = await source.exportCloud(eci);
  const file = writeCloudFile(bundle, { realm: null, host: source.id, now: Date.now() });
  const exportMs = performance.now() - t;
  t = performance.now();
  const sealed = writeCloudFile(bundle, { realm: null, host: source.id, now: Date.now() }, 'a passphrase');
  const encryptMs = performance.now() - t;

  t = performance.now();
  const read = readCloudFile(sealed, 'a passphrase');
  const decryptMs = performance.now() - t;
  t = performance.now();
  const { bundle: plain } = readCloudFile(file);
  await target.importCloud((await target.root()).eci, plain);
  const importMs = performance.now() - t;
  const probe = await target.query({ eci, rid: 'bench.fill', name: 'get', args: { i: records - 1 } });
  if ((probe as { i?: number } | null)?.i !== records - 1 || read.header.records !== bundle.records.length) throw new Error('the imported cloud is not whole');

  emit({
    name: `g2.cloud-file-${records}`,
    records: bundle.records.length,
    fileMB: round(file.length / 1024 / 1024, 1),
    exportMs: round(exportMs, 0),
    importMs: round(importMs, 0),
    encryptMs: round(encryptMs, 0),
    decryptMs: round(decryptMs, 0),
    unit: 'ms',
    ...(await machine()),
  });
} finally {
  await Promise.all([source.close(), target.close()]);
  await Promise.all([removeDir(srcDir), removeDir(dstDir)]);
}
