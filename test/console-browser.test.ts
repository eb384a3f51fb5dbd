import { afterAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { appServer } from './apps-harness.ts';
import { browserPage, closeBrowser, shot } from './browser-harness.ts';
import { consoleHost } from './console-harness.ts';

/**
 * The console in a real browser (Debian's Chromium through playwright-core), against a host on
 * real LevelDB behind real HTTP: what a person does, clicked and typed, with a virtual passkey.
 * Screenshots of the main views go to reports/console/.
 */

afterAll(closeBrowser);

const COUNTER = `ruleset test.console.counter {
  meta { version "1.0.0" shares count }
  global { count = function() { ent:count.defaultsTo(0) } }
  rule inc {
    select when counter inc
    send_directive("count", {"count": ent:count.defaultsTo(0) + 1})
    always { ent:count := ent:count.defaultsTo(0) + 1 }
  }
}`;

async function setUp() {
  const t = await consoleHost({ apps: { sources: { allow: ['127.0.0.1'] } } });
  const url = t.server.url.replace('127.0.0.1', 'localhost'); // a passkey's relying party is a name, never an address
  const b = await browserPage();
  return { ...t, url, ...b };
}

/** Wait until the page's alert region says what `what` matches. */
async function alertSays(page: Page, what: RegExp): Promise<void> {
  await expect.poll(() => page.locator('#alert').innerText()).toMatch(what);
}

async function signInWithCode(page: Page, url: string, code: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('Sign-in code').fill(code);
  await page.getByRole('button', { name: 'Sign in with the code' }).click();
}

async function openCloud(page: Page, name: string, tab: string): Promise<void> {
  await page.locator(`[data-cloud="${name}"]`).click();
  await page.getByRole('heading', { name: new RegExp(`^${name}`) }).waitFor();
  await page.getByRole('tab', { name: tab, exact: true }).click();
}

describe('the console in Chromium', () => {
  it('first sign-in with a one-time code, a passkey added, signed out, signed in again with the passkey; a used or wrong code is refused', async () => {
    const { page, context, url, code, root, authenticator, errors } = await setUp();
    const first = await code(root.eci);
    await signInWithCode(page, url, first);
    await page.getByText('Add a passkey to sign in again').waitFor();
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'kumo_session', httpOnly: true, secure: true, sameSite: 'Strict' });
    expect(await page.evaluate('document.cookie')).toBe(''); // HttpOnly: the page's script never sees it
    await shot(page, '1-signed-in-with-code');
    await page.getByRole('button', { name: 'Add a passkey' }).click();
    await alertSays(page, /^Passkey added\.$/);
    expect(await authenticator.credentials()).toHaveLength(1);
    await page.getByRole('tab', { name: 'Access' }).click();
    await page.getByRole('cell', { name: /\(this one\)/ }).waitFor();
    await shot(page, '2-access');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in to your cloud' }).waitFor();
    expect(await context.cookies()).toEqual([]);
    await shot(page, '0-sign-in');
    await page.getByRole('button', { name: 'Sign in with a passkey' }).click();
    await page.getByText(`signed in to ${root.cloudId}`).waitFor();
    const [again] = await context.cookies();
    expect(again!.value).not.toBe(cookie!.value);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Sign-in code').fill(first);
    await page.getByRole('button', { name: 'Sign in with the code' }).click();
    await alertSays(page, /^SIGN_IN_FAILED: this sign-in code is wrong or was used/);
    await page.evaluate("document.getElementById('alert').textContent = ''");
    await page.getByLabel('Sign-in code').fill('WXYZ-WXYZ-WXYZ');
    await page.getByRole('button', { name: 'Sign in with the code' }).click();
    await alertSays(page, /^SIGN_IN_FAILED: this sign-in code is wrong/);
    expect(await context.cookies()).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('makes a child, installs an app from a URL into it, sends it an event from the testing panel and sees the episode in the live log', async () => {
    const { page, url, code, root, errors } = await setUp();
    const web = await appServer();
    web.serve('/counter.krl', COUNTER);
    await signInWithCode(page, url, await code(root.eci));
    await page.getByRole('tab', { name: 'Children' }).click();
    await page.getByLabel('Name').fill('kitchen');
    await page.getByRole('button', { name: 'Make a child' }).click();
    await openCloud(page, 'kitchen', 'Apps');
    await page.getByLabel('App URL').fill(web.url('/counter.krl'));
    await page.getByRole('button', { name: 'Install', exact: true }).click();
    await page.getByRole('cell', { name: 'test.console.counter' }).waitFor();
    await shot(page, '3-apps');

    await page.getByRole('tab', { name: 'Test' }).click();
    await page.getByLabel('Domain', { exact: true }).fill('counter');
    await page.getByLabel('Type', { exact: true }).fill('inc');
    await page.getByRole('button', { name: 'Send event' }).click();
    await expect.poll(() => page.getByTestId('test-output').innerText()).toContain('"count": 1');
    await page.getByLabel('Ruleset', { exact: true }).fill('test.console.counter');
    await page.getByLabel('Function', { exact: true }).fill('count');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.getByTestId('test-output').innerText()).toBe('1');
    await page.getByLabel('Function', { exact: true }).fill('nothing');
    await page.getByRole('button', { name: 'Run' }).click();
    await expect.poll(() => page.getByTestId('test-output').innerText()).toMatch(/^UNKNOWN_FUNCTION|^NOT_SHARED/);
    await shot(page, '4-test');

    await page.getByRole('tab', { name: 'Log' }).click();
    await page
      .getByTestId('log')
      .getByText(/counter:inc fired test\.console\.counter\/inc; 1 directive/)
      .waitFor();
    await shot(page, '5-log');
    await page.getByRole('tab', { name: 'Apps' }).click();
    await page
      .getByRole('row', { name: /io\.picolabs\.wrangler/ })
      .getByText('built in')
      .waitFor();
    const app = page.getByRole('row', { name: /test\.console\.counter/ });
    await app.getByRole('button', { name: 'uninstall' }).click();
    await app.waitFor({ state: 'detached' });
    expect(errors).toEqual([]);
  });

  it('the live log shows an episode committed while it is open, and filters', async () => {
    const { page, url, code, root, host, clock } = await setUp();
    clock.advance(Date.now() - clock.now()); // the chart counts the browser's last minute
    await signInWithCode(page, url, await code(root.eci));
    await page.getByRole('tab', { name: 'Log' }).click();
    await page.getByText('live', { exact: true }).waitFor();
    await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'while-open' } });
    await page
      .getByTestId('log')
      .getByText(/wrangler:new_child_request fired io\.picolabs\.wrangler\/new_child_request/)
      .waitFor();
    await host.event({ eci: root.eci, domain: 'nothing', type: 'here', attrs: {} });
    await page
      .getByTestId('log')
      .getByText(/nothing:here/)
      .waitFor();
    await expect(host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: {} })).rejects.toMatchObject({ code: 'INVALID_ATTRS' });
    await page
      .getByTestId('log')
      .getByText(/INVALID_ATTRS io\.picolabs\.wrangler\/new_child_request/)
      .waitFor();
    await page.getByRole('img', { name: '3 events and 1 errors in the last minute' }).waitFor();
    await page.getByLabel('filter the log').fill('nothing');
    await expect.poll(() => page.getByTestId('log').locator('li').count()).toBe(1);
  });

  it('narrows a channel (events of one domain only, no queries), copies nothing it should not, and deletes it', async () => {
    const { page, url, code, root, host } = await setUp();
    await signInWithCode(page, url, await code(root.eci));
    await page.getByRole('tab', { name: 'Channels' }).click();
    await page.getByLabel('Tags').fill('thermostat');
    await page.getByLabel(/Events allowed/).fill('sensor:*');
    await page.getByLabel(/Queries allowed/).fill('none/none');
    await page.getByRole('button', { name: 'Make a channel' }).click();
    const row = page.getByRole('row', { name: /thermostat/ });
    await row.waitFor();
    await shot(page, '6-channels');
    const made = (await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'channels', args: {} })) as Array<{ id: string; tags: string[] }>;
    const narrow = made.find((c) => c.tags.includes('thermostat'))!.id;
    // What the channel lets through, and what not.
    await expect(host.event({ eci: narrow, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'x' } })).rejects.toMatchObject({ code: 'POLICY_DENIED' });
    await expect(host.query({ eci: narrow, rid: 'io.picolabs.wrangler', name: 'children', args: {} })).rejects.toMatchObject({ code: 'POLICY_DENIED' });
    await row.getByRole('button', { name: 'delete' }).click();
    await row.waitFor({ state: 'detached' });
    await expect(host.event({ eci: narrow, domain: 'sensor', type: 'reading', attrs: {} })).rejects.toMatchObject({ code: 'UNKNOWN_ECI' });
  });

  it('adds a device and shows its claim code as text and as a QR code; the code claims the device', async () => {
    const { page, url, code, root, server, host } = await setUp();
    await signInWithCode(page, url, await code(root.eci));
    await page.getByRole('tab', { name: 'Devices' }).click();
    await page.getByLabel('Device name').fill('porch-sensor');
    await page.getByLabel('Event domains it may send').fill('sensor');
    await page.getByRole('button', { name: 'Add a device' }).click();
    const shown = page.locator('[data-claim-code]');
    await shown.waitFor();
    const claim = (await shown.getAttribute('data-claim-code'))!;
    expect(claim).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    const qr = page.getByRole('img', { name: `QR code of the claim code ${claim}` });
    expect(await qr.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).naturalWidth)).toBeGreaterThan(20);
    await page.getByRole('cell', { name: 'porch-sensor' }).waitFor();
    await shot(page, '7-devices');
    const claimOf = (c: string) => fetch(`${server.url}/claim`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: c }) });
    const claimed = await claimOf(claim);
    expect(claimed.status).toBe(200);
    const { eci: deviceEci } = (await claimed.json()) as { eci: string };
    const row = page.getByRole('row', { name: /porch-sensor/ });
    expect(await row.getByRole('cell').nth(3).innerText()).toBe('never');
    await host.event({ eci: deviceEci, domain: 'sensor', type: 'reading', attrs: { t: 20 } });
    await page.getByRole('tab', { name: 'Devices' }).click();
    await expect
      .poll(() =>
        page
          .getByRole('row', { name: /porch-sensor/ })
          .getByRole('cell')
          .nth(3)
          .innerText(),
      )
      .not.toBe('never');
    // A new code for the device, from its row.
    await page.getByRole('button', { name: 'new claim code' }).click();
    await expect.poll(async () => page.locator('[data-claim-code]').getAttribute('data-claim-code')).not.toBe(claim);
    const again = (await page.locator('[data-claim-code]').getAttribute('data-claim-code'))!;
    expect((await claimOf(again)).status).toBe(200);
  });

  it('proposes a link from one cloud to another and accepts it there; the tree draws it', async () => {
    const { page, url, code, root, host } = await setUp();
    for (const name of ['alice', 'bob']) await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name } });
    await signInWithCode(page, url, await code(root.eci));
    await openCloud(page, 'bob', 'Links');
    const wellKnown = (await page.locator('p', { hasText: 'Well-known ECI of this cloud' }).locator('code').innerText()).trim();
    await openCloud(page, 'alice', 'Links');
    await page.getByLabel("The other cloud's well-known ECI").fill(wellKnown);
    await page.getByLabel('My role').fill('neighbour');
    await page.getByLabel('Their role').fill('neighbour');
    await page.getByRole('button', { name: 'Propose' }).click();
    await page.getByRole('heading', { name: 'Proposed by me' }).waitFor();
    await expect.poll(async () => page.getByRole('button', { name: 'cancel' }).count()).toBe(1);
    await openCloud(page, 'bob', 'Links');
    await page.getByRole('button', { name: 'accept' }).click();
    await expect.poll(async () => page.getByRole('button', { name: 'remove' }).count()).toBe(1);
    await shot(page, '8-links');
    expect(await page.locator('svg.tree path.link').count()).toBe(1);
    await openCloud(page, 'alice', 'Links');
    await expect.poll(async () => page.getByRole('button', { name: 'remove' }).count()).toBe(1);
  });

  it('a narrow ECI’s console shows what it may not do as refusals with their codes', async () => {
    const { page, url, code, root, host } = await setUp();
    const made = await host.event({ eci: root.eci, domain: 'wrangler', type: 'new_channel_request', attrs: { tags: ['kiosk'], eventPolicy: { allow: [{ domain: 'test', type: '*' }], deny: [] }, queryPolicy: { allow: [], deny: [] } } });
    const kiosk = (made.directives[0]!.options as { id: string }).id;
    await signInWithCode(page, url, await code(kiosk));
    await page.getByText('signed in to').waitFor();
    await page
      .getByText(/POLICY_DENIED/)
      .first()
      .waitFor();
    await page.getByRole('tab', { name: 'Children' }).click();
    await page.getByLabel('Name').fill('sneaky');
    await page.getByRole('button', { name: 'Make a child' }).click();
    await alertSays(page, /^POLICY_DENIED/);
    expect(await host.query({ eci: root.eci, rid: 'io.picolabs.wrangler', name: 'children', args: {} })).toEqual([]);
    await shot(page, '9-narrow');
  });

  it('fits a phone’s width and is usable by keyboard: a cloud of the tree is chosen with Tab and Enter', async () => {
    const t = await consoleHost();
    const { page } = await browserPage({ width: 390, height: 844 });
    await t.host.event({ eci: t.root.eci, domain: 'wrangler', type: 'new_child_request', attrs: { name: 'garage' } });
    await signInWithCode(page, t.server.url.replace('127.0.0.1', 'localhost'), await t.code(t.root.eci));
    await page.locator('[data-cloud="garage"]').waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true);
    await page.locator('[data-cloud="root"]').focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: /^garage/ }).waitFor();
    await shot(page, '10-phone');
  });

  it('says so when the page is not in a secure context (plain http on another name than localhost), where no cookie or passkey would work', async () => {
    const t = await consoleHost();
    const port = new URL(t.server.url).port;
    const { page } = await browserPage(undefined, ['--host-resolver-rules=MAP kumo.test 127.0.0.1']);
    await page.goto(`http://kumo.test:${port}/`);
    await page
      .getByRole('note')
      .getByText(/not in a secure context/)
      .waitFor();
    await page.goto(`${t.server.url.replace('127.0.0.1', 'localhost')}/`);
    await page.getByRole('heading', { name: 'Sign in to your cloud' }).waitFor();
    expect(await page.getByRole('note').count()).toBe(0);
  });
});
