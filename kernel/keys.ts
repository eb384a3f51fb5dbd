/**
 * Every key shape in the store, in one place (DESIGN §4). One cloud's records all live under
 * `c!{cloudId}!`, so exporting, importing or deleting a cloud is a range operation. Host-wide
 * indexes live under their own one-letter prefixes.
 *
 * Every prefix ends in "!"; the end of its range is the same string ending in '"' (the next byte).
 */

export interface Range {
  gte: string;
  lt: string;
}

/** The range of all keys starting with `prefix` (which must end in "!"). */
export function rangeOf(prefix: string): Range {
  return { gte: prefix, lt: `${prefix.slice(0, -1)}"` };
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

export const keys = {
  /** Everything one cloud owns. */
  cloud: (cloudId: string) => `c!${cloudId}!`,
  meta: (cloudId: string) => `c!${cloudId}!meta`,
  eci: (cloudId: string, eci: string) => `c!${cloudId}!eci!${eci}`,
  child: (cloudId: string, childId: string) => `c!${cloudId}!kid!${childId}`,
  install: (cloudId: string, rid: string) => `c!${cloudId}!rs!${rid}`,
  entity: (cloudId: string, rid: string, name: string) => `c!${cloudId}!ent!${rid}!${name}`,
  entities: (cloudId: string, rid: string) => `c!${cloudId}!ent!${rid}!`,
  exprState: (cloudId: string, rid: string, rule: string) => `c!${cloudId}!ee!${rid}!${rule}`,
  exprStates: (cloudId: string, rid: string) => `c!${cloudId}!ee!${rid}!`,
  schedule: (cloudId: string, id: string) => `c!${cloudId}!sch!${id}`,
  applied: (cloudId: string, eid: string) => `c!${cloudId}!eid!${eid}`,
  /** The episode log sorts after every other record of the cloud, so activation can stop before it. */
  logs: (cloudId: string) => `c!${cloudId}!~log!`,
  log: (cloudId: string, seq: number) => `c!${cloudId}!~log!${pad(seq, 12)}`,

  /** Host-wide: the root cloud of this host. */
  root: () => 'h!root',
  /** Host-wide ECI index: eci → cloud id. O(1) routing. */
  eciIndex: (eci: string) => `i!${eci}`,
  /** Host-wide schedule index by due time. */
  dues: () => 'd!',
  due: (at: number, cloudId: string, id: string) => `d!${pad(at, 15)}!${cloudId}!${id}`,
  /** Due keys up to and including time `at`. */
  duesUntil: (at: number): Range => ({ gte: 'd!', lt: `d!${pad(at + 1, 15)}` }),
  /** Host-wide outbox of events leaving a cloud, delivered after commit. */
  outboxes: () => 'o!',
  outbox: (seq: number) => `o!${pad(seq, 15)}`,
};

/** Parse a due-index key back into its parts. */
export function parseDueKey(key: string): { at: number; cloudId: string; id: string } {
  const [, at, cloudId, id] = key.split('!');
  return { at: Number(at), cloudId: cloudId!, id: id! };
}
