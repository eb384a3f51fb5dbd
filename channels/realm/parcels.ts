import { createHash } from 'node:crypto';
import { pack, type InboxMessage } from './wire.ts';

/** Store one JetStream message; resolves once the stream has it (a repeated `msgId` is stored once). */
export type StoreDurable = (subject: string, data: Uint8Array, msgId: string) => Promise<void>;

interface Waiting {
  bytes: Uint8Array;
  msgId: string;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** A parcel stays under this many bytes (nats-server refuses messages over 1 MB by default). */
const MAX_PARCEL_BYTES = 256 * 1024;

/**
 * Messages for other hosts' durable inboxes, packed into parcels: one JetStream message (one
 * publish, one stored entry, one acknowledgement at the other end) carries every message handed in
 * for that inbox while the previous parcel was being stored, as group commit does for the store.
 * A lone message goes out at once and alone; under load parcels grow with it. Each caller's promise
 * settles with its parcel, so the outbox still deletes an entry only once JetStream has it.
 *
 * A parcel's `msgId` is its messages' ids, hashed: the same parcel sent again is stored once; a
 * different grouping of the same messages is stored again, and the receiving host applies each
 * event at most once by its eid anyway.
 */
export class Parcels {
  private readonly queues = new Map<string, Waiting[]>();

  constructor(private readonly store: StoreDurable) {}

  /** Hand in a message for `subject`; resolves once it is stored in its parcel. */
  send(subject: string, message: InboxMessage, msgId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiting: Waiting = { bytes: pack(message), msgId, resolve, reject };
      const queue = this.queues.get(subject);
      if (queue) queue.push(waiting);
      else {
        this.queues.set(subject, [waiting]);
        void this.flush(subject);
      }
    });
  }

  /** Send parcels for `subject`, one at a time, until nothing is waiting. */
  private async flush(subject: string): Promise<void> {
    const queue = this.queues.get(subject)!;
    while (queue.length > 0) {
      const parcel = take(queue);
      try {
        await this.store(subject, encodeParcel(parcel.map((w) => w.bytes)), parcelId(parcel));
        for (const w of parcel) w.resolve();
      } catch (err) {
        for (const w of parcel) w.reject(err);
      }
    }
    this.queues.delete(subject);
  }
}

/** The oldest waiting messages that fit in one parcel (at least one). */
function take(queue: Waiting[]): Waiting[] {
  let bytes = 0;
  let n = 0;
  while (n < queue.length && (n === 0 || bytes + queue[n]!.bytes.length <= MAX_PARCEL_BYTES)) bytes += queue[n++]!.bytes.length;
  return queue.splice(0, n);
}

function parcelId(parcel: Waiting[]): string {
  if (parcel.length === 1) return parcel[0]!.msgId;
  const h = createHash('sha256');
  for (const w of parcel) h.update(w.msgId).update('\n');
  return `parcel.${h.digest('base64url')}`;
}

/** A parcel on the wire: a msgpack array of the messages, each already packed (msgpack arrays concatenate). */
function encodeParcel(messages: Uint8Array[]): Uint8Array {
  return Buffer.concat([arrayHeader(messages.length), ...messages]);
}

function arrayHeader(n: number): Uint8Array {
  if (n < 16) return Uint8Array.of(0x90 | n);
  if (n < 0x10000) return Uint8Array.of(0xdc, n >> 8, n & 0xff);
  return Uint8Array.of(0xdd, (n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >> 8) & 0xff, n & 0xff);
}

/** The messages of a parcel as stored in an inbox (a lone message from before parcels is a parcel of one). */
export function messagesOf(decoded: unknown): InboxMessage[] {
  return Array.isArray(decoded) ? (decoded as InboxMessage[]) : [decoded as InboxMessage];
}
