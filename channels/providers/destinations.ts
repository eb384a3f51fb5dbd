import { DestinationDeniedError, InvalidArgsError } from '../../kernel/index.ts';

/**
 * The operator's list of the hosts of other providers this host may send events to (links whose
 * other side is elsewhere, pico's `Tx_host`). A rule names the destination, and a proposal from
 * anywhere can name one, so without a list any cloud could make the host post to any address it
 * can reach; the operator decides (`kumo serve --allow-hosts`, `--deny-hosts`).
 *
 * A pattern is a host name or address (`example.com`, `127.0.0.1`, `[::1]`), optionally with a
 * port (`example.com:8443`), or `*.example.com` for every name under a domain, or `*` for any.
 * Deny is checked first; with no allow list, every destination not denied is allowed.
 */
export interface DestinationRules {
  allow?: readonly string[];
  deny?: readonly string[];
}

interface Pattern {
  host: string;
  /** Undefined: any port. */
  port: string | undefined;
}

const PATTERN = /^(\*|\*\.[a-z0-9.-]+|[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$/;

function parse(text: string): Pattern {
  const m = PATTERN.exec(text.trim().toLowerCase());
  if (!m) throw new InvalidArgsError(`${JSON.stringify(text)} is not a host pattern (host, host:port, *.domain or *)`);
  return { host: m[1]!, port: m[2] };
}

function matches(p: Pattern, url: URL): boolean {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (p.port !== undefined && p.port !== port) return false;
  const host = url.hostname.toLowerCase();
  if (p.host === '*') return true;
  if (p.host.startsWith('*.')) return host.endsWith(p.host.slice(1));
  return host === p.host;
}

/** A list of host patterns to allow and deny; with no allow list, every host not denied is allowed. */
export class HostRules {
  private readonly allow: Pattern[] | undefined;
  private readonly deny: Pattern[];

  constructor(rules: DestinationRules = {}) {
    this.allow = rules.allow && rules.allow.length > 0 ? rules.allow.map(parse) : undefined;
    this.deny = (rules.deny ?? []).map(parse);
  }

  /** May the host of `url` be reached? */
  allows(url: URL): boolean {
    return !this.deny.some((p) => matches(p, url)) && (!this.allow || this.allow.some((p) => matches(p, url)));
  }

  /** Is the host of `url` named in the allow list itself (not only by `*`)? */
  names(url: URL): boolean {
    return (this.allow ?? []).some((p) => p.host !== '*' && matches(p, url));
  }
}

/** The destinations a host may send to; `check` normalises a base URL and refuses the others. */
export class Destinations {
  private readonly rules: HostRules;

  constructor(rules: DestinationRules = {}) {
    this.rules = new HostRules(rules);
  }

  /** The base URL as events to it are kept (see {@link baseUrl}); INVALID_ARGS or DESTINATION_DENIED. */
  check(base: string): string {
    const normal = baseUrl(base);
    if (!this.rules.allows(new URL(normal))) throw new DestinationDeniedError(normal);
    return normal;
  }
}

/** A host's base URL, checked (http or https, no credentials, query or fragment) and without a trailing slash; INVALID_ARGS. */
export function baseUrl(base: string): string {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    throw new InvalidArgsError(`${JSON.stringify(base)} is not a URL; a host of another provider is named by its base URL, like https://example.com`);
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username || url.password || url.search || url.hash) {
    throw new InvalidArgsError(`${JSON.stringify(base)} is not a base URL (http or https, no credentials, query or fragment)`);
  }
  return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
}
