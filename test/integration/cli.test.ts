import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPglite } from '../../src/db/pglite.js';
import { migrate } from '../../src/db/migrate.js';
import { SETTLEMENT_COLUMNS } from '../../src/gateways/adyen/settlement.js';
import { openPostgres } from '../../src/db/postgres.js';
import { SqlNotificationLog } from '../../src/store/sql/gatewayNotifications.js';
import { IDEM_BIN, startIdemServer } from '../support/idemServer.js';
import { createTestDatabase, postgresAvailable } from '../support/services.js';
import { freePort } from '../support/redisServer.js';

const run = promisify(execFile);

/** Runs the built `idem` with a clean environment; resolves with its exit code and output. */
async function idem(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [IDEM_BIN, ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('idem command line', () => {
  const dirs: string[] = [];
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'idem-cli-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('stops at start with one line naming a bad setting, exit code 2', async () => {
    const r = await idem(['serve', '--data-dir', dataDir()], { IDEM_LEASE_MS: 'soon' });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^idem: config: IDEM_LEASE_MS must be an integer/);
  });

  it('stops at start when a gateway credential is missing or open to others, naming the gateway, never the secret', async () => {
    const gateways = (ref: string) => JSON.stringify([{ name: 'stripe-eu', kind: 'stripe', credentials_ref: ref }]);
    const missing = await idem(['serve', '--data-dir', dataDir()], { IDEM_GATEWAYS: gateways('env:IDEM_TEST_STRIPE_KEY') });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^idem: config: gateway "stripe-eu": credentials_ref "env:IDEM_TEST_STRIPE_KEY": environment variable IDEM_TEST_STRIPE_KEY is not set or empty \[GATEWAY_CREDENTIALS\]/);
    const dir = dataDir();
    const keyFile = join(dir, 'stripe.key');
    writeFileSync(keyFile, 'sk_test_never_printed', { mode: 0o644 });
    chmodSync(keyFile, 0o644);
    const open = await idem(['serve', '--data-dir', dataDir()], { IDEM_GATEWAYS: gateways(keyFile) });
    expect(open.code).toBe(2);
    expect(open.stderr).toMatch(/gateway "stripe-eu".*mode 0644/);
    expect(open.stdout + open.stderr).not.toContain('sk_test_never_printed');
  });

  it('migrates, creates a merchant and prints its key once', { timeout: 240_000 }, async () => {
    const dir = dataDir();
    const migrated = await idem(['migrate', '--data-dir', dir]);
    expect(migrated.code).toBe(0);
    expect(migrated.stdout).toMatch(/applied migrations 1, 2/);
    expect((await idem(['migrate', '--data-dir', dir])).stdout).toMatch(/schema is up to date/);
    const created = await idem(['merchant', 'create', 'Acme Ltd', '--data-dir', dir]);
    expect(created.code).toBe(0);
    const apiKey = /api key (sk_[0-9a-z]+)/.exec(created.stdout)?.[1];
    expect(apiKey).toBeDefined();
    const db = await openPglite(dir);
    try {
      const { rows } = await db.query<{ key_hash: string }>('SELECT key_hash FROM api_keys');
      expect(rows).toHaveLength(1);
      expect(rows[0]!.key_hash).not.toContain(apiKey!); // stored hashed only
    } finally {
      await db.close();
    }
  });

  it('ledger verify: exit 0 on a clean ledger, 1 with each difference printed after tampering', { timeout: 300_000 }, async () => {
    const dir = dataDir();
    // A first start migrates a new data folder: slow on a busy machine.
    const server = await startIdemServer({ env: {}, args: ['--data-dir', dir], startTimeoutMs: 150_000 });
    let apiKey: string;
    try {
      apiKey = /API key, shown once: (sk_[0-9a-z]+)/.exec(server.output())![1]!;
      const res = await fetch(`${server.url}/v1/payments`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': 'cli-1', 'content-type': 'application/json' },
        body: JSON.stringify({ amount: 1200, currency: 'EUR', capture_method: 'automatic', payment_method: { type: 'card', token: 'tok_visa' } }),
      });
      expect(res.status).toBe(201);
    } finally {
      await server.stop();
    }
    const clean = await idem(['ledger', 'verify', '--data-dir', dir]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/checked 1 payments, 2 journal entries/);
    expect(clean.stdout).toMatch(/ledger verified: balanced and matching/);

    const db = await openPglite(dir);
    try {
      await db.query(`UPDATE ledger_postings SET amount = amount + 1 WHERE account = 'gateway_receivable'`);
    } finally {
      await db.close();
    }
    const tampered = await idem(['ledger', 'verify', '--data-dir', dir]);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toMatch(/DIFFERENCE entry capture:att_\w+ of pay_\w+ does not balance \(sum 1\)/);
    expect(tampered.stdout).toMatch(/DIFFERENCE the books do not balance in EUR/);
    expect(tampered.stdout).toMatch(/DIFFERENCE pay_\w+ \(captured\): gateway_receivable is 1201, its state says 1200/);
  });
});

// Each case runs several node start-ups of the CLI: seconds each on a busy machine.
describe('idem payments and idem events tail, against a running instance', () => {
  const dir = mkdtempSync(join(tmpdir(), 'idem-cli-reads-'));
  let server: Awaited<ReturnType<typeof startIdemServer>>;
  let apiKey: string;
  let paymentId: string;
  beforeAll(async () => {
    // A first start migrates a new data folder: slow on a busy machine.
    server = await startIdemServer({ env: {}, args: ['--data-dir', dir], startTimeoutMs: 150_000 });
    apiKey = /API key, shown once: (sk_[0-9a-z]+)/.exec(server.output())![1]!;
    const res = await fetch(`${server.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': 'cli-reads-1', 'content-type': 'application/json' },
      body: JSON.stringify({ amount: 1999, currency: 'EUR', capture_method: 'automatic', reference: 'order-42', payment_method: { type: 'card', token: 'tok_visa' } }),
    });
    expect(res.status).toBe(201);
    paymentId = ((await res.json()) as { id: string }).id;
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('payments list prints a table from --url and --api-key; payments get reads IDEM_URL and IDEM_API_KEY and prints JSON', { timeout: 240_000 }, async () => {
    const list = await idem(['payments', 'list', '--url', server.url, '--api-key', apiKey]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^payment\s+status\s+amount/);
    expect(list.stdout).toMatch(new RegExp(`${paymentId}\\s+captured\\s+1999 EUR\\s+1999\\s+0\\s+sim-a\\s+\\S+\\s+order-42`));
    const got = await idem(['payments', 'get', paymentId, '--json'], { IDEM_URL: server.url, IDEM_API_KEY: apiKey });
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toMatchObject({ id: paymentId, status: 'captured', amount_captured: 1999 });
    const pretty = await idem(['payments', 'get', paymentId], { IDEM_URL: server.url, IDEM_API_KEY: apiKey });
    expect(pretty.stdout).toMatch(/status:\s+captured/);
    expect(pretty.stdout).toMatch(/att_\w+\s+authorize\s+sim-a\s+1999\s+succeeded/);
  });

  it('errors are one line with the stable code; an unreachable instance is named', { timeout: 240_000 }, async () => {
    const missing = await idem(['payments', 'get', 'pay_nope', '--url', server.url, '--api-key', apiKey]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^idem: GET \/v1\/payments\/pay_nope answered 404: .+ \[PAYMENT_NOT_FOUND\]\n$/);
    const badKey = await idem(['payments', 'list', '--url', server.url, '--api-key', 'sk_wrong']);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toMatch(/^idem: GET \/v1\/payments\?limit=20 answered 401: .+ \[AUTH_REQUIRED\]\n$/);
    const noKey = await idem(['events', 'tail', '--url', server.url]);
    expect(noKey.stderr).toBe('idem: --api-key (or IDEM_API_KEY) is required\n');
    const closed = await freePort(); // nothing listens there
    const away = await idem(['payments', 'list', '--url', `http://127.0.0.1:${closed}`, '--api-key', apiKey]);
    expect(away.code).toBe(1);
    expect(away.stderr).toBe(`idem: cannot reach http://127.0.0.1:${closed} (ECONNREFUSED)\n`);
  });

  it('events tail follows the stream: JSON lines with --json, one readable line per event otherwise', { timeout: 240_000 }, async () => {
    const json = await idem(['events', 'tail', '--json', '--count', '2', '--url', server.url, '--api-key', apiKey]);
    expect(json.code).toBe(0);
    const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; type: string; payment_id: string });
    expect(events).toHaveLength(2);
    expect(events[0]).toMatchObject({ type: 'payment.created', payment_id: paymentId });
    const pretty = await idem(['events', 'tail', '--count', '1', '--starting-after', events[0]!.id, '--url', server.url, '--api-key', apiKey]);
    expect(pretty.code).toBe(0);
    expect(pretty.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3}\\s+${events[1]!.type.replace('.', '\\.')}\\s+${paymentId}\\s+.*${events[1]!.id}\\n$`));
    const bad = await idem(['events', 'tail', '--type', 'no such', '--url', server.url, '--api-key', apiKey]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/\[VALIDATION_FAILED\]\n$/);
  });
});

// `idem reconcile` in a process of its own reads what `idem serve` stored: Adyen's notifications.
describe.skipIf(!(await postgresAvailable()))('idem reconcile against PostgreSQL: an Adyen gateway\u2019s stored notifications', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  beforeAll(async () => {
    database = await createTestDatabase('idem_cli_adyen');
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('reads the notifications from the gateway_notifications table and the settlement reports from its folder: each unknown one opens a case, exit 1', { timeout: 120_000 }, async () => {
    const db = openPostgres(database.url, { max: 2 });
    try {
      await migrate(db);
      await new SqlNotificationLog(db).record(
        'adyen',
        [{ pspReference: 'QFQTPCQ8HXSKGK82', originalReference: '9913140798220028', merchantAccount: 'ShopECOM', merchantReference: 'pay_nobody.capture.1', eventCode: 'CAPTURE', success: true, amount: 1000, currency: 'EUR', eventDate: '2026-12-01T10:00:00+01:00', reason: null }],
        Date.parse('2026-12-01T09:00:01Z'),
      );
    } finally {
      await db.close();
    }
    // And a settlement report in the gateway's folder: one line Idem knows nothing of.
    const reports = mkdtempSync(join(tmpdir(), 'idem-cli-reports-'));
    const cells: Record<string, string> = { 'Merchant Account': 'ShopECOM', 'Psp Reference': 'ZZZZ000000000001', 'Merchant Reference': 'order-9', 'Creation Date': '2026-12-01 10:00:00', Type: 'Settled', 'Modification Reference': 'ZZZZ000000000002', 'Gross Currency': 'EUR', 'Gross Credit (GC)': '12.00', 'Net Currency': 'EUR', 'Net Credit (NC)': '11.60' };
    writeFileSync(join(reports, 'settlement_detail_report_batch_7.csv'), `${SETTLEMENT_COLUMNS.join(',')}\n${SETTLEMENT_COLUMNS.map((c) => cells[c] ?? '').join(',')}\n`);
    const env = {
      DATABASE_URL: database.url,
      IDEM_TEST_ADYEN: JSON.stringify({ api_key: 'test_api_key_1', hmac_key: '44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056', merchant_account: 'ShopECOM' }),
      IDEM_GATEWAYS: JSON.stringify([{ name: 'adyen', kind: 'adyen', credentials_ref: 'env:IDEM_TEST_ADYEN', base_url: 'http://127.0.0.1:9/v71', settlement_reports_dir: reports }]),
    };
    try {
      const r = await idem(['reconcile', '--gateway', 'adyen', '--since', '2026-11-30T00:00:00Z'], env);
      expect(r.stderr).not.toMatch(/notification store is not open/);
      expect(r.stdout).toMatch(/^adyen\s+2\s+2\s+0\s+/m); // fetched 2, new 2, rejected 0
      expect(r.stdout).toMatch(/2 open case\(s\)/);
      expect(r.stdout).toMatch(/unrequested_operation/);
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).not.toContain('test_api_key_1');
      // A second run reads nothing new from the cursor, the report copied under another name included.
      copyFileSync(join(reports, 'settlement_detail_report_batch_7.csv'), join(reports, 'copy of batch 7.csv'));
      const again = await idem(['reconcile', '--gateway', 'adyen'], env);
      expect(again.stdout).toMatch(/^adyen\s+0\s+0\s+0\s+/m);
      expect(again.stdout).toMatch(/2 open case\(s\)/);
      expect(again.code).toBe(1);
    } finally {
      rmSync(reports, { recursive: true, force: true });
    }
  });
});
