/**
 * The benchmarks' webhook receiver, on a thread of its own: a merchant's server is not the load
 * generator, so its work (a request per event, its body parsed) must not queue behind the
 * generator's on one event loop, nor the generator's behind it. Each arrival is stamped here,
 * as it ends, and handed to the main thread in batches every 10 ms.
 *
 *   const receiver = await WebhookReceiver.start((a) => arrivals.noteArrival(a));
 *   receiver.url  // http://127.0.0.1:<port>/hooks
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

/** One delivery as it arrived: the event's id, when it arrived, when it was written, whether it names a payment. */
export interface Arrival {
  id: string;
  at: number;
  createdAt: number;
  payment: boolean;
}

type FromWorker = { port: number } | { arrivals: Arrival[] };

export class WebhookReceiver {
  private constructor(
    private readonly worker: Worker,
    readonly url: string,
  ) {}

  static async start(onArrival: (a: Arrival) => void): Promise<WebhookReceiver> {
    const worker = new Worker(new URL(import.meta.url));
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.on('message', (m: FromWorker) => {
        if ('port' in m) resolve(m.port);
        else for (const a of m.arrivals) onArrival(a);
      });
    });
    return new WebhookReceiver(worker, `http://127.0.0.1:${port}/hooks`);
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}

if (!isMainThread && parentPort) {
  const out = parentPort;
  let batch: Arrival[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const at = Date.now();
      const e = JSON.parse(body) as { id: string; created_at: string; payment_id?: string | null };
      batch.push({ id: e.id, at, createdAt: Date.parse(e.created_at), payment: Boolean(e.payment_id) });
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => out.postMessage({ port: (server.address() as AddressInfo).port } satisfies FromWorker));
  setInterval(() => {
    if (batch.length === 0) return;
    out.postMessage({ arrivals: batch } satisfies FromWorker);
    batch = [];
  }, 10);
}
