/**
 * The operator console in a real browser (playwright-core driving Debian's chromium) against a real cluster:
 * api, ingest and worker in this process with a private Redis and Mosquitto, and an echo device group.
 * Each page's screenshot goes to docs/console/ (the README shows them).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { API_KEY } from './support/cluster.js';
import { startDeviceGroup, startWorkerCluster, type DeviceGroup, type WorkerCluster } from './support/worker-cluster.js';

const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
const SHOTS = new URL('../docs/console/', import.meta.url).pathname;
const PK = 'consoledemo';
const DEVICES = ['echo-0001', 'echo-0002', 'echo-0003'];

let cluster: WorkerCluster;
let group: DeviceGroup;
let browser: Browser;
let page: Page;
let base: string;
const problems: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`);
  mkdirSync(SHOTS, { recursive: true });
  cluster = await startWorkerCluster({ protocolVersion: 5 });
  group = await startDeviceGroup(cluster.mosquitto.url, PK);
  for (const d of DEVICES) await cluster.connectDevice(PK, d);
  base = cluster.apis[0]!.url;
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  // A CSP violation or a script error is a defect of the console, whatever the page shows.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource: the server responded with a status of (401|404)/.test(m.text()))
      problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await group?.close();
  await cluster?.stop();
});

describe('console', () => {
  it('serves its files without a key, under a strict CSP, with cache-busted assets', async () => {
    const res = await fetch(`${base}/console/`);
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    expect(html).not.toMatch(/<script>(?!<)/); // no inline script
    const asset = /src="(assets\/[0-9a-f]{12}\/app\.js)"/.exec(html)?.[1];
    expect(asset).toBeDefined();
    const js = await fetch(`${base}/console/${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${base}/console/assets/000000000000/app.js`)).status).toBe(404);
    expect((await fetch(`${base}/console/assets/${asset?.split('/')[1]}/../../package.json`)).status).toBe(404);
  });

  it('refuses a wrong key with a clear message, then signs in', async () => {
    await page.goto(`${base}/console/`);
    await page.fill('#api-key', 'not-the-right-key-0123456789');
    await page.click('button[type=submit]');
    await page.waitForSelector('#notice:has-text("Sign-in failed")');
    expect(await page.textContent('#notice')).toMatch(/Sign-in failed: .*key/i);
    await shot('sign-in-wrong-key');
    await page.fill('#api-key', API_KEY);
    await page.click('button[type=submit]');
    await page.waitForSelector('nav#nav:not([hidden])');
    expect(await page.evaluate('sessionStorage.getItem("rrpc.apiKey")')).toBe(API_KEY);
  });

  it('takes a key from the link npm start prints and removes it from the address bar', async () => {
    const other = await browser.newPage();
    await other.goto(`${base}/console/#key=${encodeURIComponent(API_KEY)}`);
    await other.waitForSelector('nav#nav:not([hidden])');
    expect(other.url()).not.toContain(API_KEY);
    await other.close();
  });

  it('lists the devices ONLINE and shows a disconnect live', async () => {
    await page.goto(`${base}/console/#/devices?product=${PK}`);
    for (const d of DEVICES) await page.waitForSelector(`tr[data-device="${d}"] .status.ONLINE`);
    await shot('devices');
    await cluster.disconnectDevice(PK, 'echo-0003');
    await page.waitForSelector('tr[data-device="echo-0003"] .status.OFFLINE', { timeout: 10_000 });
  });

  it('registers a device and shows its secret once', async () => {
    await page.fill('#new-name', 'registered-01');
    await page.click('form[aria-label="Register a device"] button[type=submit]');
    const secret = await page.waitForSelector('[data-testid=device-secret]');
    expect(await secret.textContent()).toMatch(/^[A-Za-z0-9]{32}$/);
    await shot('device-registered');
    await page.goto(`${base}/console/#/call`);
    await page.goto(`${base}/console/#/devices?product=${PK}`);
    await page.waitForSelector('tr[data-device="registered-01"]');
    expect(await page.$('[data-testid=device-secret]')).toBeNull();
  });

  it('calls a device and shows the echoed answer as text, JSON and hex, with the equivalent commands', async () => {
    await page.goto(`${base}/console/#/call?product=${PK}&device=echo-0001`);
    await page.selectOption('#call-format', 'json');
    await page.fill('#call-payload', '{"cmd":"on"}');
    await page.click('form[aria-label="Call a device"] button[type=submit]');
    await page.waitForSelector('[data-testid=answer-text]');
    expect(await page.textContent('[data-testid=answer-text]')).toBe('{"cmd":"on"}');
    expect(await page.textContent('[data-testid=answer-json]')).toContain('"cmd": "on"');
    expect(await page.textContent('[data-testid=answer-hex]')).toMatch(/^7b 22 63 6d 64/);
    expect(await page.textContent('[data-testid=curl]')).toContain(`/v1/devices/${PK}/echo-0001/rrpc`);
    expect(await page.textContent('[data-testid=curl]')).not.toContain(API_KEY);
    expect(await page.textContent('[data-testid=cli]')).toContain(`npx rrpc call '${PK}' 'echo-0001' --timeout 5000 --data '{"cmd":"on"}'`);
    await shot('call');
    // Bad JSON is caught in the browser, with a message, and nothing is sent.
    await page.fill('#call-payload', '{"cmd":');
    await page.click('form[aria-label="Call a device"] button[type=submit]');
    await page.waitForSelector('#notice:has-text("not valid JSON")');
  });

  it('finds the call by its message ID and lists this session’s calls', async () => {
    await page.goto(`${base}/console/#/calls`);
    const link = await page.waitForSelector('table[aria-label="Recent calls"] a');
    await link.click();
    await page.waitForSelector('.panel .status.SUCCESS');
    await shot('calls');
  });

  it('creates a batch from selected devices and watches its progress reach 100 %', async () => {
    await page.goto(`${base}/console/#/devices?product=${PK}`);
    await page.waitForSelector('tr[data-device="echo-0001"] .status.ONLINE');
    await page.check('tr[data-device="echo-0001"] input[type=checkbox]');
    await page.check('tr[data-device="echo-0002"] input[type=checkbox]');
    await page.click('text=Batch call to selected');
    await page.waitForSelector('#batch-devices');
    expect((await page.inputValue('#batch-devices')).split('\n').sort()).toEqual([`${PK}/echo-0001`, `${PK}/echo-0002`]);
    await page.click('form[aria-label="Create a batch"] button[type=submit]');
    await page.waitForSelector('[data-testid=batch-progress-text]:has-text("2 of 2 done (100 %)")', { timeout: 20_000 });
    expect(await page.getAttribute('[data-testid=batch-progress]', 'value')).toBe('2');
    await shot('batch');
  });

  it('shows a device’s jobs', async () => {
    const created = await cluster.json(`/v1/devices/${PK}/echo-0003/rrpc/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload: 'am9i', ttlMs: 60_000 }),
    });
    expect(created.status).toBe(202);
    await page.goto(`${base}/console/#/jobs?product=${PK}&device=echo-0003`);
    await page.waitForSelector('table[aria-label="Jobs"] .status.QUEUED');
    await shot('jobs');
    await page.click('table[aria-label="Jobs"] button:has-text("Cancel")');
    await page.waitForSelector('table[aria-label="Jobs"] .status.CANCELLED');
  });

  it('shows the pods of the cluster', async () => {
    await page.goto(`${base}/console/#/health`);
    await page.waitForSelector('tr[data-kind="api"]', { timeout: 15_000 });
    await page.waitForSelector('tr[data-kind="response-ingest"]', { timeout: 15_000 });
    await page.waitForSelector('tr[data-kind="worker"]', { timeout: 15_000 });
    await shot('health');
  });

  it('renders the API reference at /docs/ from the vendored renderer', async () => {
    await page.goto(`${base}/docs/`);
    await page.waitForSelector('.swagger-ui .info .title', { timeout: 15_000 });
    expect(await page.textContent('.swagger-ui .info .title')).toContain('RRPC HTTP API');
    await shot('api-reference');
  });

  it('fits a phone screen', async () => {
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 } });
    await phone.goto(`${base}/console/#key=${encodeURIComponent(API_KEY)}`);
    await phone.goto(`${base}/console/#/call?product=${PK}&device=echo-0001`);
    await phone.waitForSelector('#call-payload');
    const width = await phone.evaluate<number>('document.documentElement.scrollWidth');
    expect(width).toBeLessThanOrEqual(390);
    await phone.screenshot({ path: `${SHOTS}phone-call.png`, fullPage: true });
    await phone.close();
  });

  it('raised no script error and no CSP violation on any page', () => {
    expect(problems).toEqual([]);
  });
});
