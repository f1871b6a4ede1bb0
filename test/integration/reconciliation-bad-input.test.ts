/**
 * Bad input to reconciliation, over a real socket: a gateway log that is down, answers
 * garbage, sends malformed records, moves its cursor backwards or cuts the connection. The
 * loop logs a clear error for each, records it for `idem reconcile`, keeps going, and decides
 * nothing on such evidence; the first good page is then acted on (its orphan voided once).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/database.js';
import { migrate } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';
import { createHttpConnector } from '../../src/gateways/http/connector.js';
import { systemRuntime, systemTimers } from '../../src/ports/clock.js';
import { startReconcileLoop } from '../../src/reconciliation/loop.js';
import { Reconciler } from '../../src/reconciliation/reconciler.js';
import { SqlStore } from '../../src/store/sql/index.js';
import { waitUntil } from '../support/payments.js';

const orphan = (id: string) => ({
  id,
  idempotency_key: `someone-else-${id}`,
  operation: 'authorize',
  amount: 900,
  currency: 'EUR',
  reference: 'order-nobody',
  authorization_id: `auth_${id}`,
  status: 'succeeded',
  created_at: '2026-12-01T10:00:00.000Z',
});

type Script = (req: IncomingMessage, res: ServerResponse) => void;
const json = (status: number, body: unknown): Script => (_req, res) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

describe('reconciliation on bad gateway logs', () => {
  let db: Database;
  let store: SqlStore;
  let server: Server;
  let url: string;
  const voids: Array<{ key: string; body: Record<string, unknown>; afterGets: number }> = [];
  let gets = 0;
  const script: Script[] = [
    json(503, { error: 'unavailable', processed: false }),
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>maintenance</html>');
    },
    json(200, {
      data: [
        { ...orphan('m1'), amount: '900' },
        { ...orphan('m2'), authorization_id: null },
        { ...orphan('m3'), operation: 'charge' },
        { ...orphan('m4'), created_at: 'soon' },
      ],
      next_cursor: '4',
      has_more: false,
    }),
    // From cursor 4 back to 2: refused whole, its authorization is not evidence.
    json(200, { data: [orphan('backwards')], next_cursor: '2', has_more: false }),
    (req) => req.socket.destroy(),
    json(200, { data: [orphan('good')], next_cursor: '5', has_more: false }),
  ];

  beforeAll(async () => {
    db = await openPglite('memory://');
    await migrate(db);
    store = new SqlStore(db);
    server = createServer((req, res) => {
      if (req.method === 'GET' && req.url?.startsWith('/v1/transactions')) {
        const step = script[gets++];
        if (step) return step(req, res);
        return json(200, { data: [], next_cursor: '5', has_more: false })(req, res);
      }
      if (req.method === 'POST' && req.url === '/v1/void') {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          const parsed = JSON.parse(body) as Record<string, unknown>;
          voids.push({ key: String(req.headers['idempotency-key']), body: parsed, afterGets: gets });
          json(200, { id: `txn_void_${voids.length}`, authorization_id: parsed.authorization_id, status: 'succeeded' })(req, res);
        });
        return;
      }
      json(404, { error: 'not_found' })(req, res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await db.close();
  });

  it('logs each problem, keeps looping, remediates nothing on bad evidence, then acts on the first good page', async () => {
    const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
    const log = {
      info: (obj: object, msg: string) => lines.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
      warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
      error: (obj: object, msg: string) => lines.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
    };
    const connector = createHttpConnector({ name: 'bad', baseUrl: url, timeoutMs: 5_000, timers: systemTimers });
    const reconciler = new Reconciler({ store, gateways: { names: ['bad'], connector: () => connector }, runtime: systemRuntime, owner: 'test', log });
    const loop = startReconcileLoop(reconciler, systemRuntime, 30, log);
    try {
      await waitUntil('the good page acted on', () => voids.length > 0 && gets > script.length, 30_000);
    } finally {
      await loop.stop();
    }

    const errors = lines.filter((l) => l.level === 'error').map((l) => String(l.obj.reason ?? l.obj.error ?? ''));
    expect(errors).toEqual(
      expect.arrayContaining([
        'transaction log answered HTTP 503',
        'transaction log answered something that is not a page',
        'm1: amount is not a non-negative integer',
        'm2: a succeeded authorize without an authorization_id',
        'm3: unknown operation "charge"',
        'm4: created_at is not a time',
        'transaction log cursor went backwards (asked from 4, told to go on from 2)',
        expect.stringMatching(/^transaction log unreachable: /),
      ]),
    );
    // One void, for the good page's orphan only, sent after the good page was read.
    expect(voids.map((v) => [v.key, v.body.authorization_id])).toEqual([['recon.void.bad.auth_good', 'auth_good']]);
    expect(voids[0]!.afterGets).toBeGreaterThanOrEqual(script.length);
    expect((await store.listStagedRecords('bad')).map((r) => r.id)).toEqual(['good']);
    expect((await store.listRemediations('bad')).map((r) => [r.authorization_id, r.state])).toEqual([['auth_good', 'done']]);
    const [cursor] = await store.listReconcileCursors();
    expect(cursor).toMatchObject({ gateway: 'bad', cursor: '5', lastError: null });
  }, 60_000);
});
