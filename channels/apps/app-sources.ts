import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { readFile, realpath, stat } from 'node:fs/promises';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppSourceDeniedError, AppSourceFailedError, PayloadTooLargeError, type HttpRequest, type HttpResponse } from '../../kernel/index.ts';
import { HostRules, type DestinationRules } from '../providers/destinations.ts';

/**
 * What apps may reach over the network (docs/apps.md, "Sources"): where their sources may come
 * from, and the hosts their HTTP requests (`ctx.http`) may go to. `https:` and `http:` URLs of hosts
 * the operator's lists allow, never an address of this machine or its private networks unless the
 * allow list names that host itself (a cloud's owner must not make the host reach what only it can
 * reach); `file:` sources only inside the folder the operator gives. Each request has a size and a
 * time limit; a source follows at most three redirects, each checked again.
 */
export interface AppSourceRules extends DestinationRules {
  /** A folder whose files may be installed by `file:` URL; none when not given. */
  folder?: string;
  /** Longest a request may take in all (ms). */
  timeoutMs?: number;
  /** Largest answer read (bytes). */
  maxBytes?: number;
}

const REDIRECTS = 3;

/** Loopback, private, link-local, unique-local and unspecified addresses: this machine and its networks. */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv4');
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
] as const)
  PRIVATE.addSubnet(net, bits, 'ipv6');

function isPrivate(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1]!, 'ipv4');
  return PRIVATE.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}

/** An HTTP(S) request under `rules`, one hop (no redirect followed): its status, headers and text. */
export function outbound(rules: AppSourceRules = {}): (req: HttpRequest) => Promise<HttpResponse> {
  const hosts = new HostRules(rules);
  const timeoutMs = rules.timeoutMs ?? 10_000;
  const maxBytes = rules.maxBytes ?? 200 * 1024;
  return async (req) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      throw new AppSourceDeniedError(req.url, 'it is not a URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new AppSourceDeniedError(url.href, 'apps reach https: and http: URLs only');
    if (!hosts.allows(url)) throw new AppSourceDeniedError(url.href, 'the operator does not allow that host');
    if (url.username || url.password) throw new AppSourceDeniedError(url.href, 'a URL with credentials is not allowed');
    const named = hosts.names(url);
    const bare = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(bare) && isPrivate(bare) && !named) throw new AppSourceDeniedError(url.href, `${url.hostname} is an address of this host's own networks`);
    // Checked where the connection is made, on the address it is made to: a name cannot resolve to
    // a private address after a check of it passed.
    const lookup: LookupFunction = (hostname, options, callback) =>
      dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
        if (err) return callback(err, '', 0);
        const bad = addresses.find((a) => isPrivate(a.address));
        if (bad && !named) return callback(new AppSourceDeniedError(url.href, `${hostname} is an address of this host's own networks (${bad.address})`), '', 0);
        if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        callback(null, addresses[0]!.address, addresses[0]!.family);
      });
    let timer: NodeJS.Timeout | undefined;
    const answer = new Promise<HttpResponse>((done, fail) => {
      const request = (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, { method: req.method ?? 'GET', headers: req.headers ?? {}, lookup }, (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            request.destroy();
            fail(new PayloadTooLargeError(`${url.href} answered more than ${maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => {
          const headers = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : (v ?? '')]));
          done({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', (err) => fail(new AppSourceFailedError(url.href, `${url.href} failed: ${err.message}`)));
      });
      timer = setTimeout(() => request.destroy(new AppSourceFailedError(url.href, `${url.href} did not answer within ${timeoutMs} ms`)), timeoutMs);
      request.on('error', (err) => fail(err instanceof AppSourceFailedError || err instanceof AppSourceDeniedError ? err : new AppSourceFailedError(url.href, `${url.href} cannot be reached: ${err.message}`)));
      request.end(req.body);
    });
    try {
      return await answer;
    } finally {
      clearTimeout(timer);
    }
  };
}

/** A fetcher of app sources under `rules`: the source text, or APP_SOURCE_DENIED, APP_SOURCE_FAILED, PAYLOAD_TOO_LARGE. */
export function appSources(rules: AppSourceRules = {}): (url: string) => Promise<string> {
  const fetchOne = outbound(rules);
  const maxBytes = rules.maxBytes ?? 200 * 1024;
  const folder = rules.folder === undefined ? undefined : resolve(rules.folder);

  const fromFile = async (url: URL): Promise<string> => {
    if (!folder) throw new AppSourceDeniedError(url.href, 'this host allows no app files (kumo serve --apps-folder)');
    let path;
    try {
      path = await realpath(fileURLToPath(url));
    } catch {
      throw new AppSourceFailedError(url.href, `no app file at ${url.href}`);
    }
    const root = await realpath(folder);
    if (!path.startsWith(root + sep)) throw new AppSourceDeniedError(url.href, 'it is outside the folder apps may come from');
    if ((await stat(path)).size > maxBytes) throw new PayloadTooLargeError(`an app's source may be at most ${maxBytes} bytes`);
    return readFile(path, 'utf8');
  };

  return async (text: string): Promise<string> => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw new AppSourceDeniedError(text, 'it is not a URL');
    }
    if (url.protocol === 'file:') return fromFile(url);
    for (let hops = 0; ; hops++) {
      const res = await fetchOne({ url: url.href, headers: { accept: 'text/javascript, application/javascript, text/typescript, text/plain' } });
      const location = res.headers['location'];
      if (res.status >= 300 && res.status < 400 && location) {
        if (hops >= REDIRECTS) throw new AppSourceFailedError(url.href, `${url.href} redirects more than ${REDIRECTS} times`);
        try {
          url = new URL(location, url);
        } catch {
          throw new AppSourceFailedError(url.href, `${url.href} redirects to an address that is not a URL`);
        }
        continue;
      }
      if (res.status !== 200) throw new AppSourceFailedError(url.href, `${url.href} answered ${res.status}`);
      return res.body;
    }
  };
}
