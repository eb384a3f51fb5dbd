import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * A certificate authority and a server certificate it signed (for `localhost` and 127.0.0.1), made
 * with the openssl command in `dir`, for nats-server's `tls` block in the tests. PEM paths, and the
 * CA's text as a host is given it.
 */
export function makeCerts(dir: string, name = 'kumo-test'): { caFile: string; ca: string; certFile: string; keyFile: string } {
  const at = (f: string) => join(dir, `${name}-${f}`);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', at('ca.key'), '-out', at('ca.pem'), '-days', '2', '-subj', `/CN=${name} CA`);
  ssl('req', ...ec, '-keyout', at('server.key'), '-out', at('server.csr'), '-subj', '/CN=localhost');
  writeFileSync(at('san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  ssl('x509', '-req', '-in', at('server.csr'), '-CA', at('ca.pem'), '-CAkey', at('ca.key'), '-CAcreateserial', '-out', at('server.pem'), '-days', '2', '-extfile', at('san.ext'));
  return { caFile: at('ca.pem'), ca: readFileSync(at('ca.pem'), 'utf8'), certFile: at('server.pem'), keyFile: at('server.key') };
}
