import { createServer, type Server } from 'node:http';
import type { HeapReport } from './heap.js';
import type { Metrics } from './metrics.js';

/**
 * `/metrics` on a port of its own (IDEM_METRICS_PORT), so the scrape endpoint can stay on a
 * private network while the API port faces clients. Answers nothing else, but `/debug/heap`
 * when `debugHeap` is given (IDEM_DEBUG_HEAP=1).
 */
export async function startMetricsServer(metrics: Metrics, host: string, port: number, debugHeap?: () => HeapReport): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?', 1)[0];
    if (req.method === 'GET' && path === '/debug/heap' && debugHeap) {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(debugHeap()));
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.maxConnections = 64;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${actual}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
