import { InvalidArgsError } from '../errors.ts';
import { cryptoIds, type IdGenerator } from '../ids.ts';
import { keys } from './keys.ts';
import { put, type Store } from './store.ts';

const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The id of the host on `store`: `given` when there is one, else the id kept in the store, made on
 * first use. A realm needs it before the host opens (to claim partitions for it).
 */
export async function hostIdOf(store: Store, ids: IdGenerator = cryptoIds, given?: string): Promise<string> {
  if (given !== undefined) {
    if (!HOST_ID.test(given)) throw new InvalidArgsError('a host id is 1 to 64 characters of [A-Za-z0-9_-]');
    return given;
  }
  let id = await store.get(keys.hostId());
  if (id === undefined) {
    id = `h${Buffer.from(ids.bytes(6)).toString('base64url')}`;
    await store.write([put(keys.hostId(), id)]);
  }
  return id;
}
