import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookHttpTransport } from './webhookHttp.js';

describe('the webhook HTTP transport', () => {
  let server: http.Server;
  let port = 0;
  let hits = 0;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      hits++;
      req.resume();
      if (req.url === '/later') return void res.writeHead(503, { 'retry-after': '7' }).end();
      res.writeHead(200).end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('refuses loopback at connect time unless allowed, by address and by name, without reaching the receiver', async () => {
    const strict = webhookHttpTransport({ timeoutMs: 2_000 });
    expect(await strict.send(`http://127.0.0.1:${port}/`, {}, '{}')).toMatchObject({ kind: 'failed', error: expect.stringContaining('private') });
    expect(await strict.send(`http://localhost:${port}/`, {}, '{}')).toMatchObject({ kind: 'failed', error: expect.stringContaining('private') });
    expect(hits).toBe(0);
    strict.close();
    const open = webhookHttpTransport({ timeoutMs: 2_000, allowPrivate: true });
    expect(await open.send(`http://127.0.0.1:${port}/`, {}, '{}')).toEqual({ kind: 'answered', status: 200 });
    expect(await open.send(`http://127.0.0.1:${port}/later`, {}, '{}')).toEqual({ kind: 'answered', status: 503, retryAfterMs: 7_000 });
    expect(hits).toBe(2);
    open.close();
  });
});
