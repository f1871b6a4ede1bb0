/**
 * Traces leave `idem serve` over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set
 * (docs/metadata.md, "Traces"): the built CLI as a child process, embedded PGlite, and an
 * OTLP/HTTP receiver in this test (JSON encoding, `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) that
 * collects what arrives. One request sent with a `traceparent` comes back as one trace: the
 * request's server span (a child of the client's), its gate decision and its gateway attempt,
 * each with the request's metadata. A second server without the variable sends nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIdemServer, type IdemServer } from '../support/idemServer.js';
import { paymentBody, waitUntil } from '../support/payments.js';

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  attributes?: Array<{ key: string; value: Record<string, unknown> }>;
}

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';

let receiver: Server;
let endpoint: string;
const received: OtlpSpan[] = [];
const resources: string[] = [];
const dirs: string[] = [];
const servers: IdemServer[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          resourceSpans: Array<{ resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans: Array<{ spans: OtlpSpan[] }> }>;
        };
        for (const rs of body.resourceSpans) {
          resources.push(rs.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue ?? '');
          for (const ss of rs.scopeSpans) received.push(...ss.spans);
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await new Promise((resolve) => receiver.close(resolve));
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function serve(env: Record<string, string>): Promise<{ idem: IdemServer; apiKey: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'idem-otlp-'));
  dirs.push(dir);
  const idem = await startIdemServer({ env: { IDEM_DATA_DIR: dir, ...env }, startTimeoutMs: 150_000 });
  servers.push(idem);
  const apiKey = /API key, shown once: (\S+)/.exec(idem.output())?.[1];
  if (!apiKey) throw new Error(`no API key in: ${idem.output()}`);
  return { idem, apiKey };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v === undefined ? undefined : (v.stringValue ?? v.intValue ?? v.boolValue);
};

describe('OTLP export', () => {
  it('a request sent with traceparent arrives at the OTLP endpoint as one trace, gateway call included', async () => {
    const { idem, apiKey } = await serve({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: 'idem-under-test',
    });
    const res = await fetch(`${idem.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': 'otlp-1', 'content-type': 'application/json', traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
      body: JSON.stringify(paymentBody()),
    });
    expect(res.status).toBe(201);
    const requestId = res.headers.get('request-id')!;
    const paymentId = ((await res.json()) as { id: string }).id;

    const trace = () => received.filter((s) => s.traceId === CLIENT_TRACE);
    await waitUntil('the spans over OTLP', () => trace().length >= 3, 20_000, 50);
    const spans = trace();
    expect(resources).toContain('idem-under-test');
    const root = spans.find((s) => s.name === 'POST /v1/payments')!;
    expect(root.parentSpanId).toBe(CLIENT_SPAN);
    expect(attr(root, 'request_id')).toBe(requestId);
    expect(attr(root, 'payment_id')).toBe(paymentId);
    const gate = spans.find((s) => s.name === 'idem.gate')!;
    expect(gate.parentSpanId).toBe(root.spanId);
    expect(attr(gate, 'idem.gate.decision')).toBe('claimed');
    const attempt = spans.find((s) => s.name === 'gateway authorize')!;
    expect(attempt.parentSpanId).toBe(gate.spanId);
    for (const f of ['merchant_id', 'payment_id', 'idempotency_key', 'request_id', 'attempt_id', 'attempt_no', 'operation', 'gateway', 'gateway_key', 'trace_id']) {
      expect(attr(attempt, f), f).toBeDefined();
    }
    expect(attr(attempt, 'trace_id')).toBe(CLIENT_TRACE);
  }, 240_000);

  it('without OTEL_EXPORTER_OTLP_ENDPOINT nothing is exported, and the client\'s trace id still names the request', async () => {
    // The traced server above keeps exporting its background work (relay and reconciliation
    // passes): stopped first (it flushes as it stops), so whatever arrives now is the new one's.
    for (const s of servers.splice(0)) await s.stop();
    const before = received.length;
    const { idem, apiKey } = await serve({ OTEL_BSP_SCHEDULE_DELAY: '100', LOG_LEVEL: 'info' });
    const res = await fetch(`${idem.url}/v1/payments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'idempotency-key': 'otlp-2', 'content-type': 'application/json', traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
      body: JSON.stringify(paymentBody()),
    });
    expect(res.status).toBe(201);
    const requestId = res.headers.get('request-id')!;
    expect(requestId).toMatch(/^req_/);
    // stdout is not a terminal: JSON lines, the request's one line carrying the client's trace id.
    const lineOf = () =>
      idem
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .find((l) => l.request_id === requestId && l.msg === 'request completed');
    await waitUntil('the request line', () => lineOf() !== undefined);
    expect(lineOf()).toMatchObject({ trace_id: CLIENT_TRACE, idempotency_key: 'otlp-2', operation: 'create', merchant_id: expect.stringMatching(/^mer_/) });
    await new Promise((r) => setTimeout(r, 500));
    expect(received.length).toBe(before);
  }, 240_000);
});
