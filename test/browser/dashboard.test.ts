import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import { startSimulatorServer, type SimulatorServer } from '../../src/gateways/simulator/server.js';
import { createMerchant } from '../../src/merchants/merchants.js';
import { cryptoRandom } from '../../src/ports/clock.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { CHROMIUM, chromiumAvailable, controlsTabMisses, launchChromium, seriousViolations, type LaunchedBrowser } from '../support/browser.js';
import { startIdemServer, type IdemServer } from '../support/idemServer.js';
import { gatewayEntries, waitUntil } from '../support/payments.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhookReceiver.js';

/**
 * The dashboard in a real headless Chromium (Debian's package, driven by playwright-core), as a
 * person on a payments team uses it (docs/dashboard.md): sign in; watch a new payment appear
 * live; put a simulator in outage and see its gateway turn `down` within 10 s; open the saga of
 * a payment that failed over; resolve a reconciliation case; replay webhooks. Each step asserts
 * what is on the screen (text, states by their accessible names, chart points), writes a
 * screenshot to SCREENS, and scans the screen with axe-core and with the Tab key. At the end:
 * no API key, card token or payment idempotency key in a URL the browser asked for, in
 * localStorage, in a cookie or in the server's log lines of the dashboard's requests.
 */

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCREENS = process.env.IDEM_DASHBOARD_SCREENS ?? join(ROOT, 'test-results', 'dashboard-browser');
const OPERATOR_KEY = `op_browser_${'x'.repeat(24)}_${process.pid}`;
const hasChromium = chromiumAvailable();
const hasPostgres = await postgresAvailable();
const ready = hasChromium && hasPostgres;
if (!ready) {
  const missing = [hasChromium ? '' : `chromium (${CHROMIUM}; apt-get install chromium)`, hasPostgres ? '' : 'PostgreSQL'].filter(Boolean).join(' and ');
  if (process.env.CI === 'true') throw new Error(`the dashboard browser test needs ${missing}, and CI=true`);
  console.warn(`\n!!! SKIPPING the dashboard browser test: ${missing} unavailable.\n`);
}

describe.skipIf(!ready)('dashboard in headless Chromium', () => {
  let database: { url: string; drop: () => Promise<void> };
  let db: Database;
  let sims: SimulatorServer[] = [];
  let idem: IdemServer;
  let receiver: WebhookReceiver;
  let chromium: LaunchedBrowser;
  let context: BrowserContext;
  let page: Page;
  let apiKey = '';
  let seq = 0;
  const paymentKeys: string[] = [];
  const requested: string[] = [];
  let failedOver: { id: string } | null = null;

  const api = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${idem.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { data: Array<Record<string, unknown>> } };
  };
  const pay = async (reference: string) => {
    const key = `browser-pay-${process.pid}-${++seq}`;
    paymentKeys.push(key);
    const res = await api('POST', '/v1/payments', { amount: 1250, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' }, reference }, { 'idempotency-key': key });
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body as unknown as { id: string; status: string; gateway: string };
  };
  const shot = (name: string, fullPage = true) => page.screenshot({ path: join(SCREENS, `${name}.png`), fullPage });
  /** axe-core finds no serious or critical violation, and Tab reaches every control. */
  const accessible = async (screen: string) => {
    expect(await seriousViolations(page), `axe on ${screen}`).toEqual([]);
    expect(await controlsTabMisses(page), `controls Tab misses on ${screen}`).toEqual([]);
  };
  const go = async (screen: string, heading: string) => {
    await page.getByRole('link', { name: screen, exact: true }).click();
    await page.getByRole('heading', { level: 2, name: heading }).waitFor();
  };

  beforeAll(async () => {
    mkdirSync(SCREENS, { recursive: true });
    console.log(`dashboard screenshots: ${SCREENS}`);
    database = await createTestDatabase('idem_dashboard');
    db = openPostgres(database.url, { max: 2 });
    await migrate(db);
    const store = new SqlStore(db);
    apiKey = (await createMerchant(store, cryptoRandom, 'Browser Shop')).apiKey;
    await createMerchant(store, cryptoRandom, 'Second Shop');
    sims = await Promise.all([startSimulatorServer({ seed: 11 }), startSimulatorServer({ seed: 12 })]);
    receiver = await startWebhookReceiver();
    idem = await startIdemServer({
      env: {
        DATABASE_URL: database.url,
        LOG_LEVEL: 'info',
        IDEM_OPERATOR_KEY: OPERATOR_KEY,
        IDEM_WEBHOOK_ALLOW_PRIVATE: '1',
        IDEM_RECONCILE_INTERVAL_MS: '1000',
        IDEM_AUTH_FAILURES_PER_MINUTE: '0',
        IDEM_GATEWAYS: JSON.stringify([
          { name: 'sim-a', kind: 'http', base_url: sims[0]!.url, priority: 0, timeout_ms: 2000 },
          { name: 'sim-b', kind: 'http', base_url: sims[1]!.url, priority: 1, timeout_ms: 2000 },
        ]),
      },
      startTimeoutMs: 60_000,
    });
    const endpoint = await api('POST', '/v1/webhook_endpoints', { url: receiver.url }, { 'idempotency-key': `browser-we-${process.pid}` });
    expect(endpoint.status, JSON.stringify(endpoint.body)).toBe(201);
    receiver.secret = endpoint.body.secret as string;
    for (let i = 1; i <= 3; i++) await pay(`order-before-${i}`);
    chromium = await launchChromium();
    context = chromium.context;
    page = context.pages()[0] ?? (await context.newPage());
    page.on('request', (r: Request) => requested.push(r.url()));
  }, 120_000);

  afterAll(async () => {
    await chromium?.close();
    await idem?.stop();
    await Promise.all(sims.map((s) => s.close()));
    await receiver?.close();
    await db?.close();
    await database?.drop();
  });

  it('the checks can fail: axe finds an unnamed button, Tab misses a control taken out of the order', async () => {
    await page.setContent('<main><h1>Planted</h1><button></button><button tabindex="-1">skipped</button><a href="#x">reached</a></main>');
    expect((await seriousViolations(page)).join('\n')).toContain('button-name');
    expect(await controlsTabMisses(page)).toEqual(['button "skipped"']);
  });

  it('signs in with a merchant key and shows the overview with the last hour charted', async () => {
    await page.goto(`${idem.url}/dashboard`);
    await page.getByRole('heading', { name: 'Idem dashboard' }).waitFor();
    await accessible('sign-in');
    await shot('01-sign-in');
    await page.getByLabel('API key').fill('sk_not_a_key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'That key was refused.' }).waitFor();
    await page.getByLabel('API key').fill(apiKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 2, name: 'Overview' }).waitFor();
    await expect.poll(() => page.getByText('Merchant Browser Shop').isVisible()).toBe(true);
    const chart = page.locator('[data-chart="Payments per minute by final state"]');
    await expect
      .poll(async () => {
        const points = JSON.parse((await chart.getAttribute('data-points')) ?? '{}') as Record<string, number[]>;
        return (points.authorized ?? []).reduce((a, b) => a + b, 0);
      }, { timeout: 10_000 })
      .toBe(3);
    expect(await chart.getAttribute('aria-label')).toMatch(/^Payments per minute by final state: 60 points/);
    await accessible('overview');
    await shot('02-overview');
  });

  it('shows a new payment live, without a reload', async () => {
    await go('Payments', 'Payments');
    await page.getByRole('row', { name: /order-before-3/ }).waitFor();
    const loads = requested.filter((u) => u.endsWith('/dashboard/app.js')).length;
    const fresh = await pay('order-live-1');
    const row = page.getByRole('row', { name: new RegExp(fresh.id) });
    await row.waitFor({ timeout: 10_000 });
    // First seen as it is created (processing), then authorized as the next event arrives.
    await expect.poll(() => row.getByRole('status').getAttribute('aria-label'), { timeout: 10_000 }).toBe('state: authorized');
    expect(await row.textContent()).toContain('order-live-1');
    expect(requested.filter((u) => u.endsWith('/dashboard/app.js')).length).toBe(loads);
    await page.getByLabel('Search').fill('order-live');
    await expect.poll(() => page.getByRole('row').count()).toBe(2); // the header and the one match
    await accessible('payments');
    await shot('03-payment-live');
    await page.getByLabel('Search').fill('');
  });

  it('turns a gateway down within 10 s of its simulator going into outage', async () => {
    await go('Gateways', 'Gateways');
    const stateOf = (name: string) => page.getByRole('status', { name: new RegExp(`^${name} state: `) });
    await stateOf('sim-a').waitFor();
    expect(await stateOf('sim-a').getAttribute('aria-label')).toBe('sim-a state: healthy');
    await accessible('gateways');
    const outage = await fetch(`${sims[0]!.url}/v1/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outage: true }) });
    expect(outage.status).toBe(200);
    const started = performance.now();
    // Checkout traffic while the gateway is out: what the health model learns from.
    let traffic = true;
    const sent: Array<{ id: string; gateway: string }> = [];
    const flow = (async () => {
      for (let i = 0; traffic && i < 200; i++) sent.push(await pay(`order-outage-${i}`));
    })();
    try {
      await page.getByRole('status', { name: 'sim-a state: down' }).waitFor({ timeout: 10_000 });
    } finally {
      traffic = false;
      await flow;
    }
    const tookMs = performance.now() - started;
    console.log(`sim-a shown down ${(tookMs / 1000).toFixed(1)} s after the outage began (${sent.length} payments sent meanwhile)`);
    expect(tookMs).toBeLessThan(10_000);
    expect(await page.getByRole('status', { name: /^sim-a breaker: / }).getAttribute('aria-label')).toBe('sim-a breaker: open');
    const evidence = page.getByRole('table', { name: /Detector evidence behind the state \(down since/ });
    await evidence.waitFor();
    const points = JSON.parse((await page.locator('[data-chart="sim-a success rate"]').getAttribute('data-points'))!) as { success: number[] };
    expect(points.success.length).toBeGreaterThan(1);
    expect(points.success.at(-1)!).toBeLessThan(points.success[0]!);
    await shot('04-gateway-down');
    const moved = sent.find((p) => p.gateway === 'sim-b');
    expect(moved, 'a payment authorized at sim-b during the outage').toBeDefined();
    failedOver = moved!;
    await fetch(`${sims[0]!.url}/v1/faults`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ outage: false }) });
  });

  it('opens the saga of a payment that failed over', async () => {
    const events = await api('GET', `/v1/payments/${failedOver!.id}/events`);
    const withFailover = events.body.data.some((e) => e.type === 'payment.failover');
    // The first payments of the outage fail over; later ones go straight to sim-b (down). Take one that did.
    if (!withFailover) {
      const list = await api('GET', '/v1/payments?limit=100');
      for (const p of list.body.data) {
        const ev = await api('GET', `/v1/payments/${String(p.id)}/events`);
        if (ev.body.data.some((e) => e.type === 'payment.failover')) {
          failedOver = { id: String(p.id) };
          break;
        }
      }
    }
    await go('Payments', 'Payments');
    // The outage's first payments may be past the first page (the newest 100) when the machine
    // sent many before the gateway turned down: load older pages, as a user would, until it shows.
    const link = page.getByRole('link', { name: failedOver!.id });
    const older = page.getByRole('button', { name: 'Load older payments' });
    await page.getByRole('row').nth(1).waitFor();
    for (let pages = 0; (await link.count()) === 0 && pages < 10; pages++) {
      const rows = await page.getByRole('row').count();
      await older.click();
      await expect.poll(() => page.getByRole('row').count()).toBeGreaterThan(rows);
    }
    await link.click();
    await page.getByRole('heading', { level: 2, name: new RegExp(`Payment ${failedOver!.id}`) }).waitFor();
    const saga = page.getByRole('list', { name: 'Saga timeline' });
    const failover = saga.getByRole('listitem').filter({ hasText: /payment\.failover from sim-a to sim-b/ });
    await failover.waitFor();
    expect(await failover.textContent()).toContain('from sim-a to sim-b');
    expect(await saga.getByRole('listitem').filter({ hasText: /attempt\.not_processed authorize #\d+ at sim-a/ }).count()).toBeGreaterThan(0);
    expect(await saga.getByRole('listitem').filter({ hasText: /attempt\.succeeded authorize #\d+ at sim-b/ }).count()).toBe(1);
    await saga.getByRole('listitem').filter({ hasText: 'webhook.delivery' }).first().waitFor({ timeout: 10_000 });
    expect(await saga.textContent()).toContain('gateway_key');
    expect(await page.getByRole('status', { name: 'payment state: authorized' }).count()).toBe(1);
    expect(await page.getByText('tok_visa').count()).toBe(0); // the card token is masked
    await page.getByRole('cell', { name: 'gateway_holds' }).first().waitFor();
    await accessible('payment saga');
    await shot('05-saga-failover');
  });

  it('resolves a reconciliation case, the two records side by side', async () => {
    // A capture made at sim-b outside Idem: reconciliation adopts it and opens a case for support.
    const auth = gatewayEntries(sims[1]!.processor.log(), failedOver!.id)[0]!;
    const planted = await fetch(`${sims[1]!.url}/v1/capture`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': `outside-capture-${process.pid}` },
      body: JSON.stringify({ amount: 1250, currency: 'EUR', reference: failedOver!.id, authorization_id: auth.authorization_id }),
    });
    expect(planted.status).toBe(200);
    await waitUntil('reconciliation opened a case', async () => (await api('GET', '/v1/reconciliation/cases?status=open')).body.data.length === 1, 30_000, 200);
    await go('Reconciliation', 'Reconciliation cases');
    await page.getByRole('heading', { level: 3, name: 'unrequested_operation (1 open)' }).waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: new RegExp(failedOver!.id) }).click();
    const compare = page.getByRole('table', { name: /side by side/ });
    await compare.waitFor();
    await expect.poll(() => compare.getByRole('row', { name: /operation differs/ }).isVisible(), { timeout: 10_000 }).toBe(true);
    // Idem's side fills in once the case's payment has loaded ("no record" until then).
    await expect.poll(() => compare.getByRole('row', { name: /^reference/ }).textContent(), { timeout: 10_000 }).not.toContain('no record');
    expect(await compare.getByRole('row', { name: /^amount/ }).textContent()).not.toContain('differs');
    await accessible('reconciliation case');
    await page.getByRole('button', { name: 'Resolve case' }).click();
    await page.getByRole('alert').filter({ hasText: 'the resolution is required' }).waitFor();
    await page.getByLabel('Resolution (required)').fill('Capture confirmed with the merchant; adopted as is.');
    await page.getByRole('button', { name: 'Resolve case' }).click();
    await page.getByRole('status', { name: 'case status: resolved' }).waitFor();
    await page.getByText('Resolved: Capture confirmed with the merchant; adopted as is.').waitFor();
    await shot('06-case-resolved');
    expect((await api('GET', '/v1/reconciliation/cases?status=open')).body.data).toEqual([]);
  });

  it('shows webhook deliveries with status codes and replays a time range', async () => {
    await go('Webhooks', 'Webhooks');
    const deliveries = page.getByRole('table').filter({ hasText: 'Last status' });
    await deliveries.getByRole('row').filter({ hasText: 'payment.created' }).first().waitFor();
    await expect.poll(() => deliveries.getByRole('status', { name: 'delivery: succeeded' }).count(), { timeout: 15_000 }).toBeGreaterThan(0);
    const answered200 = deliveries.getByRole('row').filter({ has: page.getByRole('status', { name: 'delivery: succeeded' }) }).filter({ has: page.getByRole('cell', { name: '200', exact: true }) });
    expect(await answered200.count()).toBeGreaterThan(0);
    await accessible('webhooks');
    await shot('07-webhooks');
    const before = receiver.arrivals.length;
    await page.getByRole('button', { name: 'Replay events' }).click();
    const queued = page.getByRole('status').filter({ hasText: /^Queued \d+ events again\.$/ });
    await queued.waitFor();
    const n = Number(/Queued (\d+)/.exec((await queued.textContent())!)![1]);
    expect(n).toBeGreaterThan(0);
    await waitUntil(`the receiver got the ${n} replayed deliveries`, () => receiver.arrivals.length >= before + n, 30_000, 100);
    // The table follows: every replayed delivery shown sent, none left pending.
    await expect.poll(() => deliveries.getByRole('status', { name: 'delivery: pending' }).count(), { timeout: 15_000 }).toBe(0);
    await shot('08-webhooks-replayed', false);
  });

  it('signs in as the operator: every merchant readable, no resolve or replay offered, a POST refused', async () => {
    // A second tab: its own sessionStorage, the same cookies and localStorage.
    const p = await context.newPage();
    p.on('request', (r: Request) => requested.push(r.url()));
    await p.goto(`${idem.url}/dashboard`);
    await p.getByLabel('API key').fill(OPERATOR_KEY);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByText('operator, read-only').waitFor();
    const options = await p.getByLabel('Merchant').locator('option').allTextContents();
    expect(options.filter((o) => /Browser Shop|Second Shop/.test(o)).length).toBe(2);
    // Across merchants: the overview of all of them.
    await p.getByText('All merchants, the last hour').waitFor();
    // One merchant: its webhooks readable, no replay offered.
    const shop = await p.getByLabel('Merchant').locator('option', { hasText: 'Browser Shop' }).getAttribute('value');
    await p.getByLabel('Merchant').selectOption(shop!);
    await p.getByRole('link', { name: 'Webhooks', exact: true }).click();
    await p.getByRole('heading', { level: 2, name: 'Webhooks' }).waitFor();
    await p.getByRole('button', { name: receiver.url }).waitFor();
    await p.getByRole('heading', { level: 3, name: `Deliveries to ${receiver.url}` }).waitFor();
    expect(await p.getByRole('button', { name: 'Replay events' }).count()).toBe(0);
    const refused = await fetch(`${idem.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${OPERATOR_KEY}`, 'idempotency-key': 'operator-try', 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 100, currency: 'EUR', capture_method: 'manual', payment_method: { type: 'card', token: 'tok_visa' } }),
    });
    expect([refused.status, ((await refused.json()) as { code: string }).code]).toEqual([403, 'OPERATOR_READ_ONLY']);
    expect(await p.evaluate('localStorage.length')).toBe(0);
    expect(await context.cookies()).toEqual([]);
    await p.close();
  });

  it('leaves no API key, card token or payment idempotency key in a URL, localStorage, a cookie or the server log', async () => {
    expect(requested.length).toBeGreaterThan(20);
    const secrets = [apiKey, OPERATOR_KEY, 'tok_visa', ...paymentKeys];
    for (const url of requested) for (const s of secrets) expect(decodeURIComponent(url), `a request URL`).not.toContain(s);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    expect(await context.cookies()).toEqual([]);
    expect(await page.evaluate('Object.keys(sessionStorage)')).toContain('idem.apiKey');
    const log = idem.output();
    const dashboardLines = log.split('\n').filter((l) => l.includes('"request_id":"dash_'));
    expect(dashboardLines.length, 'the dashboard\u2019s requests are in the log').toBeGreaterThan(20);
    for (const s of [apiKey, OPERATOR_KEY, 'tok_visa']) expect(log.includes(s), 'a key or token in the server log').toBe(false);
    for (const line of dashboardLines) for (const key of paymentKeys) expect(line.includes(key), `a payment's idempotency key in a dashboard log line: ${line.slice(0, 200)}`).toBe(false);
  });
});
