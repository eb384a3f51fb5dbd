import { connect } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { post, rootEci, startServerProcess, wrangler } from './server-harness.ts';

/**
 * Send `perSocket` pipelined POSTs on each of `sockets` connections at once (so `sockets × perSocket`
 * requests are in flight together without needing as many file descriptors), and return every
 * response's status and error code.
 */
async function flood(url: string, path: string, body: string, sockets: number, perSocket: number): Promise<Array<{ status: number; code?: string }>> {
  const { hostname, port } = new URL(url);
  const request = `POST ${path} HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const one = (): Promise<Array<{ status: number; code?: string }>> =>
    new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      let text = '';
      const out: Array<{ status: number; code?: string }> = [];
      socket.setEncoding('latin1');
      socket.on('error', reject);
      socket.on('connect', () => socket.write(request.repeat(perSocket)));
      socket.on('data', (d: string) => {
        text += d;
        // Responses are framed by content-length; take each whole one off the front.
        for (;;) {
          const head = text.indexOf('\r\n\r\n');
          if (head < 0) break;
          const length = Number(/content-length: (\d+)/i.exec(text.slice(0, head))?.[1] ?? 0);
          if (text.length < head + 4 + length) break;
          const status = Number(text.slice(9, 12));
          const payload = JSON.parse(text.slice(head + 4, head + 4 + length)) as { error?: { code: string } };
          out.push({ status, ...(payload.error ? { code: payload.error.code } : {}) });
          text = text.slice(head + 4 + length);
        }
        if (out.length === perSocket) {
          socket.end();
          resolve(out);
        }
      });
    });
  return (await Promise.all(Array.from({ length: sockets }, one))).flat();
}

describe('kumo serve: killed with SIGKILL', () => {
  it('keeps every event it answered 202: 5,000 concurrent /c/ events to one cloud, each accepted or refused at once', async () => {
    const first = await startServerProcess();
    const owner = await rootEci(first);
    const child = await wrangler(first.url, owner, 'new_child_request', { name: 'counter' }, 'wrangler:new_child_created');
    await wrangler(first.url, child.eci, 'install_ruleset_request', { rid: 'example.counter' }, 'wrangler:ruleset_installed');
    const answers = await flood(first.url, `/c/${child.eci}/event/counter/inc`, '{"by":1}', 100, 50);
    first.proc.kill('SIGKILL');
    await first.stop();
    expect(answers).toHaveLength(5000);
    const accepted = answers.filter((a) => a.status === 202).length;
    const refused = answers.filter((a) => a.status !== 202);
    for (const r of refused) expect(r).toEqual({ status: 503, code: 'MAILBOX_FULL' });
    expect(accepted).toBeGreaterThan(0);
    const second = await startServerProcess({ dataDir: first.dataDir });
    await vi.waitFor(async () => expect((await post(`${second.url}/sky/cloud/${child.eci}/example.counter/count`)).body).toBe(accepted), { timeout: 20_000 });
  });
});
