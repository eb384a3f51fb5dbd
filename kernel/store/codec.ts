import { Packr } from 'msgpackr';

// Plain maps only: no records extension, so values decode the same on any host or version.
const packr = new Packr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/** Encode a value for the store or the wire. */
export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

/** Decode a value written by {@link encode}. */
export function decode(bytes: Uint8Array): unknown {
  return packr.unpack(bytes);
}
