import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { onCleanup } from './helpers.ts';

/**
 * Debian's Chromium (package `chromium`, installed by test/ensure-tools.sh), driven by
 * playwright-core, which downloads no browser. Flags as this machine needs them: no sandbox (root),
 * no GPU, and no background networking (the closed network refuses it, loudly).
 */

export const CHROMIUM = process.env['KUMO_CHROMIUM'] ?? '/usr/bin/chromium';

/** Where the console's screenshots of a test run go. */
export const SHOTS = join(import.meta.dirname, '..', 'reports', 'console');

let shared: Browser | undefined;
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

/** The shared browser; with `flags`, a browser of its own, closed after the test. */
async function browser(flags: string[] = []): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`the console's browser tests need Chromium at ${CHROMIUM}: apt-get install -y chromium (npm test installs it where apt can)`);
  if (flags.length > 0) {
    const own = await chromium.launch({ executablePath: CHROMIUM, args: [...FLAGS, ...flags] });
    onCleanup(() => own.close());
    return own;
  }
  shared ??= await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  return shared;
}

/** Close the browser (after the file's tests). */
export async function closeBrowser(): Promise<void> {
  await shared?.close();
  shared = undefined;
}

/**
 * A fresh browser profile (its own cookies) with a page, and a virtual WebAuthn authenticator
 * (CTAP2, resident keys, user verification, presence simulated) through the DevTools protocol.
 */
export async function browserPage(viewport = { width: 1280, height: 800 }, flags: string[] = []): Promise<{ context: BrowserContext; page: Page; errors: string[]; authenticator: { credentials(): Promise<unknown[]> } }> {
  const context = await (await browser(flags)).newContext({ viewport });
  onCleanup(() => context.close());
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('dialog', (d) => void d.accept());
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  const credentials = async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials;
  return { context, page, errors, authenticator: { credentials } };
}

/** Save a screenshot of the page under reports/console/. */
export async function shot(page: Page, name: string): Promise<void> {
  await mkdir(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
