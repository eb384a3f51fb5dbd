import { readAnswer } from '../providers/answer.ts';

/**
 * The CLI's HTTP client for a running host. It speaks only the public sky API, with the ECI it was
 * given: the CLI has no powers a curl user does not have. The host may also be a pico engine.
 */

/** An error answer from the host (`{error: {code, message}}` with a status). */
export class HostError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'HostError';
  }
}

/** The host could not be reached at all. */
export class UnreachableError extends Error {
  override name = 'UnreachableError';
}

export class Client {
  constructor(readonly baseUrl: string) {}

  /** Send an event and wait for its directives. */
  event(eci: string, eid: string, domain: string, type: string, attrs: Record<string, unknown>): Promise<{ eid: string; directives: Array<{ name: string; options: Record<string, unknown>; meta: { rid: string; rule: string } }> }> {
    return this.post(`/sky/event/${enc(eci)}/${enc(eid)}/${enc(domain)}/${enc(type)}`, attrs) as never;
  }

  /** Call a shared function. */
  query(eci: string, rid: string, name: string, args: Record<string, unknown> = {}): Promise<unknown> {
    return this.post(`/sky/cloud/${enc(eci)}/${enc(rid)}/${enc(name)}`, args);
  }

  /** Trade a device's one-time claim code for its ECI. */
  claim(code: string): Promise<{ eci: string }> {
    return this.post('/claim', { code }) as never;
  }

  /** The newest entries of the episode log (newest first). */
  async logs(eci: string, limit?: number): Promise<{ entries: Array<Record<string, unknown>> }> {
    return (await this.request(`/c/${enc(eci)}/logs${limit ? `?limit=${limit}` : ''}`, { method: 'GET' })) as never;
  }

  /** A one-time code to sign in to the console as `eci`. */
  signinCode(eci: string): Promise<{ code: string; expires: number }> {
    return this.request(`/c/${enc(eci)}/signin-code`, { method: 'POST' }) as never;
  }

  /** The console sessions and passkeys of the cloud that `eci` may see. */
  sessions(eci: string): Promise<{ sessions: Array<{ sid: string; via: string; created: number; expires: number; label: string }>; passkeys: Array<{ credId: string; created: number; lastUsed: number | null; label: string }> }> {
    return this.request(`/c/${enc(eci)}/sessions`, { method: 'GET' }) as never;
  }

  /** End a console session (or `all` that `eci` may see). */
  revokeSessions(eci: string, sid: string): Promise<{ revoked: number }> {
    return this.post(`/c/${enc(eci)}/sessions/revoke`, { sid }) as never;
  }

  /** The host's realm: its id, the realm's name, its partitions and the hosts it knows. */
  realm(): Promise<unknown> {
    return this.request('/realm', { method: 'GET' });
  }

  /** Outgoing events of the cloud that could never be delivered (newest first). */
  async deadLetters(eci: string): Promise<{ deadLetters: Array<{ eci: string; time: number; attempts: number; event: { eid: string; domain: string; type: string }; reason: { code: string; message: string } }> }> {
    return (await this.request(`/c/${enc(eci)}/dead-letters`, { method: 'GET' })) as never;
  }

  /**
   * Follow the episode log (server-sent events): the newest `limit` entries, then each new one, until
   * the stream ends. Calls `onEntry` for each, oldest first.
   */
  async follow(eci: string, onEntry: (entry: Record<string, unknown>) => void, limit?: number, signal?: AbortSignal): Promise<void> {
    const res = await this.fetch(`/c/${enc(eci)}/logs?follow=true${limit ? `&limit=${limit}` : ''}`, { method: 'GET', ...(signal ? { signal } : {}) });
    if (!res.ok) await this.raise(res);
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('\n');
          if (data) onEntry(JSON.parse(data) as Record<string, unknown>);
        }
      }
    } catch (err) {
      if (signal?.aborted) return;
      throw err;
    }
  }

  /** Export the cloud behind `eci` (and its subtree) as a cloud file; with `leave`, it then leaves the host for `leave.movedTo`. */
  async exportCloud(eci: string, opts: { passphrase?: string; leave?: { movedTo: string } }): Promise<Buffer> {
    const query = opts.leave ? `?leave=true&movedTo=${enc(opts.leave.movedTo)}` : '';
    const res = await this.fetch(`/c/${enc(eci)}/export${query}`, { method: 'POST', headers: passphraseHeader(opts.passphrase) });
    if (!res.ok) await this.raise(res);
    return Buffer.from(await res.arrayBuffer());
  }

  /** Move the cloud behind `eci` and its subtree to host `to` of the realm. */
  moveCloud(eci: string, to: string): Promise<unknown> {
    return this.request(`/c/${enc(eci)}/move?to=${enc(to)}`, { method: 'POST' });
  }

  /** Import a cloud file as a child of the cloud behind `eci`. */
  importCloud(eci: string, file: Buffer, passphrase?: string): Promise<unknown> {
    // A Blob, not the Buffer: fetch can send a Blob again when a host of a realm sends the import on (307).
    return this.request(`/c/${enc(eci)}/import`, { method: 'POST', headers: { 'content-type': 'application/vnd.kumo.cloud', ...passphraseHeader(passphrase) }, body: new Blob([file]) });
  }

  private post(path: string, body: Record<string, unknown>): Promise<unknown> {
    return this.request(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  }

  private async request(path: string, init: RequestInit): Promise<unknown> {
    const res = await this.fetch(path, init);
    const answer = readAnswer(res.status, await res.text());
    if (answer.ok) return answer.value;
    return this.fail(answer);
  }

  private async fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(new URL(path, this.baseUrl), init);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new UnreachableError(`cannot reach the host at ${this.baseUrl} (${cause?.code ?? cause?.message ?? (err as Error).message}); is it running? (kumo serve)`);
    }
  }

  private async raise(res: Response): Promise<never> {
    const answer = readAnswer(res.status, await res.text());
    return this.fail(answer.ok ? { status: res.status, code: undefined, message: res.statusText, body: answer.value } : answer);
  }

  private fail(a: { status: number; code: string | undefined; message: string; body: unknown }): never {
    // A pico engine's error (HTTP 200) has no code: it is the other host refusing.
    throw new HostError(a.status, a.code ?? (a.status < 300 ? 'REMOTE_REFUSED' : `HTTP_${a.status}`), a.message, a.body);
  }
}

const enc = encodeURIComponent;

function passphraseHeader(passphrase: string | undefined): Record<string, string> {
  return passphrase === undefined ? {} : { 'kumo-passphrase': enc(passphrase) };
}
