// The docs page in a real browser: Debian's Chromium driven by playwright-core (no browser download). /docs
// renders from the service's own files, lists the todo operations, and its "Try it out" creates a todo that
// the test then reads back over HTTP. No console error, no CSP violation, no request leaves 127.0.0.1, and the
// screenshot (test-results/docs.png, gitignored) is not blank.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { client } from '../support/client.js';
import { MAIN, startService, type TestService } from '../support/helpers.js';

// Debian's chromium by default; CHROMIUM_PATH names another (the GitHub workflow uses the runner's Chrome).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOTS = new URL('../../test-results/', import.meta.url).pathname;

// Locally a missing Chromium skips the test with the reason; in CI it must be there (.ci/run installs it).
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is missing: apt-get install chromium`;
if (missing && process.env.CI === 'true') throw new Error(`CI=true but ${missing}`);

let svc: TestService;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];
const outside: string[] = [];
const requests: string[] = [];

before(async () => {
  if (missing) return;
  svc = await startService();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    // The probe's flags: without the background-networking ones Chromium tries to reach Google at start.
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1600 } });
  // Every request the page makes is recorded; one for another host is refused and remembered.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    requests.push(url.href);
    if (url.protocol === 'data:' || url.hostname === '127.0.0.1') return route.continue();
    outside.push(url.href);
    return route.abort();
  });
  // CSP violations are events in the page; collect them where the test can read them. (Page code as a string:
  // the tests compile without the DOM library.)
  await context.addInitScript({
    content: `window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('pageerror', (e) => consoleErrors.push(`uncaught: ${e.message}`));
});

after(async () => {
  await browser?.close();
  await svc?.dispose();
});

test('/docs renders the operations, "Try it out" creates a todo, and the page stays on this host', { skip: missing, timeout: 60_000 }, async () => {
  const response = await page.goto(`${svc.url}/docs`);
  assert.equal(response?.status(), 200);
  assert.match(response.headers()['content-security-policy'] ?? '', /default-src 'none'/);

  // Swagger UI read /openapi.json and rendered one block per operation, the todo ones under their tag.
  await page.waitForSelector('#operations-todos-createTodo', { timeout: 20_000 });
  const operations = await Promise.all((await page.locator('.opblock').all()).map((block) => block.getAttribute('id')));
  for (const id of ['listTodos', 'createTodo', 'getTodo', 'updateTodo', 'patchTodo', 'deleteTodo']) {
    assert.ok(operations.includes(`operations-todos-${id}`), `${id} is listed: ${operations.join(', ')}`);
  }
  assert.match((await page.textContent('.info')) ?? '', /Todo service/);

  // "Try it out" is on by default (tryItOutEnabled): open the operation, write the body, execute.
  const title = `from the docs page ${randomUUID()}`;
  const block = page.locator('#operations-todos-createTodo');
  await block.locator('.opblock-summary-control').click();
  const tryItOut = block.locator('.try-out__btn:not(.cancel)');
  if (await tryItOut.count()) await tryItOut.click();
  await block.locator('textarea.body-param__text').fill(JSON.stringify({ title, description: 'made in Chromium' }));
  await block.locator('button.execute').click();
  const status = block.locator('.live-responses-table tr.response .response-col_status').first();
  await status.waitFor({ timeout: 15_000 });
  assert.equal((await status.textContent())?.trim(), '201');

  // The todo is really there, read back by the test over HTTP.
  const page1 = await client(() => svc.url).expect('listTodos', 200, { query: { limit: '100' } });
  const created = page1.todos.find((t) => t.title === title);
  assert.ok(created, `the todo made from the page is listed: ${JSON.stringify(page1.todos.map((t) => t.title))}`);
  assert.equal(created.description, 'made in Chromium');

  mkdirSync(SCREENSHOTS, { recursive: true });
  const file = `${SCREENSHOTS}docs.png`;
  await page.screenshot({ path: file, fullPage: false });
  assertNotBlank(file);

  const violations = await page.evaluate<string[]>('window.cspViolations');
  assert.deepEqual(violations, [], 'no Content-Security-Policy violation');
  assert.deepEqual(consoleErrors, [], 'no console error');
  assert.deepEqual(outside, [], 'no request left 127.0.0.1');
  assert.ok(requests.some((u) => u.endsWith('/openapi.json')), 'the page read the document from the service');
});

test('with AUTH_MODE=apikey, the "Authorize" button takes a key and "Try it out" creates the todo as its owner', { skip: missing, timeout: 60_000 }, async () => {
  const secured = await startService({ AUTH_MODE: 'apikey' });
  const context = await browser.newContext({ viewport: { width: 1280, height: 1600 } });
  try {
    const made = await promisify(execFile)(process.execPath, [MAIN, 'apikey', 'create', '--owner', 'docs-user'], { env: { PATH: process.env.PATH, DATABASE_URL: `sqlite:${secured.dbPath}` } });
    const key = made.stdout.trimEnd().split('\n').at(-1)!;
    const tab = await context.newPage();
    await tab.goto(`${secured.url}/docs`);
    await tab.waitForSelector('#operations-todos-createTodo', { timeout: 20_000 });
    await tab.locator('.btn.authorize').first().click();
    await tab.locator('.auth-container input').first().fill(key);
    await tab.locator('.auth-btn-wrapper .modal-btn.authorize').first().click();
    await tab.locator('.auth-btn-wrapper .btn-done, .modal-ux .close-modal').first().click();

    const title = `authorized ${randomUUID()}`;
    const block = tab.locator('#operations-todos-createTodo');
    await block.locator('.opblock-summary-control').click();
    const tryItOut = block.locator('.try-out__btn:not(.cancel)');
    if (await tryItOut.count()) await tryItOut.click();
    await block.locator('textarea.body-param__text').fill(JSON.stringify({ title }));
    await block.locator('button.execute').click();
    const status = block.locator('.live-responses-table tr.response .response-col_status').first();
    await status.waitFor({ timeout: 15_000 });
    assert.equal((await status.textContent())?.trim(), '201');

    const mine = await fetch(`${secured.url}/api/todos?limit=100`, { headers: { authorization: `Bearer ${key}` } });
    assert.ok(((await mine.json()) as { todos: { title: string }[] }).todos.some((t) => t.title === title), "the todo is the key owner's");
    assert.equal(secured.logs.find((l) => l.method === 'POST' && l.status === 201)?.owner, 'docs-user');
  } finally {
    await context.close();
    await secured.dispose();
  }
});

/** A rendered page has many colours and contrast; a blank or failed one has one or two. */
function assertNotBlank(file: string): void {
  const png = PNG.sync.read(readFileSync(file));
  const colours = new Set<number>();
  let sum = 0;
  let sumSq = 0;
  const pixels = png.width * png.height;
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i]!, png.data[i + 1]!, png.data[i + 2]!];
    colours.add((r << 16) | (g << 8) | b);
    const luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    sum += luma;
    sumSq += luma * luma;
  }
  const mean = sum / pixels;
  const stddev = Math.sqrt(sumSq / pixels - mean * mean);
  assert.ok(png.width >= 1000 && png.height >= 1000, `screenshot is ${png.width}×${png.height}`);
  assert.ok(colours.size >= 50, `only ${colours.size} colours in ${file}`);
  assert.ok(stddev >= 10, `luminance standard deviation ${stddev.toFixed(1)} in ${file}: blank?`);
}
