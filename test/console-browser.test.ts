import { describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import { consoleHost } from './console-harness.ts';

describe('try', () => {
  it('flows', async () => {
    const t = await consoleHost();
    const url = t.server.url.replace('127.0.0.1', 'localhost');
    const code = await t.code(t.root.eci);
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    page.on('console', (m) => console.log('console:', m.text()));
    page.on('pageerror', (e) => console.log('pageerror:', e.message));
    const cdp = await ctx.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', { options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true } });
    try {
      await page.goto(url + '/');
      await page.getByLabel('Sign-in code').fill(code);
      await page.getByRole('button', { name: 'Sign in with the code' }).click();
      await page.getByText('Add a passkey to sign in again').waitFor({ timeout: 5000 });
      console.log('cookies', JSON.stringify(await ctx.cookies()));
      await page.getByRole('button', { name: 'Add a passkey' }).click();
      await page.getByText('Passkey added.').waitFor({ timeout: 5000 });
      await page.screenshot({ path: '/tmp/k/c/1.png', fullPage: true });
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
      await page.getByText('signed in to').waitFor({ timeout: 5000 });
      await page.getByRole('tab', { name: 'Children' }).click();
      await page.getByLabel('Name').fill('kitchen');
      await page.getByRole('button', { name: 'Make a child' }).click();
      await page.locator('[data-cloud="kitchen"]').waitFor({ timeout: 5000 });
      await page.screenshot({ path: '/tmp/k/c/2.png', fullPage: true });
    } catch (err) {
      await page.screenshot({ path: '/tmp/k/c/fail.png', fullPage: true });
      throw err;
    } finally {
      await browser.close();
    }
    expect(1).toBe(1);
  });
});
