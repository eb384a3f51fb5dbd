import { startServer } from '../channels/http/server.ts';
import { onCleanup, testHost, type TestHostOptions } from './helpers.ts';

/** A host on real LevelDB behind real HTTP (port 0), and a small browser-like client of its console. */
export async function consoleHost(opts: TestHostOptions = {}) {
  const t = await testHost(opts);
  const server = await startServer({ host: t.host, port: 0, hostname: '127.0.0.1' });
  onCleanup(() => server.stop());
  /** A sign-in code for `eci`, as `kumo login` asks for it. */
  const code = async (eci: string): Promise<string> => {
    const res = await fetch(`${server.url}/c/${eci}/signin-code`, { method: 'POST' });
    if (res.status !== 200) throw new Error(`signin-code answered ${res.status}: ${await res.text()}`);
    return ((await res.json()) as { code: string }).code;
  };
  return { ...t, server, code, browser: () => new ConsoleClient(server.url) };
}

/** What a browser does with the console's API: keeps the cookie, sends the CSRF token and its origin. */
export class ConsoleClient {
  cookie: string | undefined;
  csrf: string | undefined;
  setCookie: string | undefined;

  constructor(readonly url: string) {}

  /** A call of `/console/api/<path>`; JSON in and out. */
  async call(path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
    const res = await fetch(`${this.url}/console/api/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json', origin: this.url }),
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(this.csrf ? { 'x-kumo-csrf': this.csrf } : {}),
        ...headers,
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const set = res.headers.get('set-cookie');
    if (set) {
      this.setCookie = set;
      const value = /^kumo_session=([^;]*)/.exec(set)?.[1];
      this.cookie = value ? `kumo_session=${value}` : undefined;
    }
    const text = await res.text();
    const parsed = text === '' ? undefined : JSON.parse(text);
    if (parsed && typeof parsed.csrf === 'string') this.csrf = parsed.csrf;
    return { status: res.status, body: parsed, headers: res.headers };
  }

  /** Sign in with a one-time code. */
  signIn(code: string) {
    return this.call('signin/code', { code });
  }
}
