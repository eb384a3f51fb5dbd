import { readFile } from 'node:fs/promises';
import { ArgumentError, type Values } from '../command.ts';

/** The passphrase in `--passphrase-file` (its first line), if given. */
export async function passphraseOption(v: Values): Promise<string | undefined> {
  if (v['passphrase-file'] === undefined) return undefined;
  const text = await readFile(v['passphrase-file'], 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ArgumentError(`cannot read --passphrase-file ${v['passphrase-file']}: ${err.code ?? err.message}`);
  });
  const line = text.split(/\r?\n/)[0]!;
  if (line === '') throw new ArgumentError('the passphrase file is empty');
  return line;
}
