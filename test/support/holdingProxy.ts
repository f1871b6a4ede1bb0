import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP proxy in front of a gateway (the simulator server) that can withhold calls: while
 * held, every call waits in the proxy until `release()`, then goes through as sent. A test
 * uses it to keep a known number of requests in flight inside Idem for as long as it needs,
 * without timing anything.
 */
export interface HoldingProxy {
  url: string;
  /** From now on, calls wait until `release()`. */
  hold(): void;
  /** Forwards every waiting call, and lets later ones straight through. */
  release(): void;
  /** Calls waiting now. */
  waiting(): number;
  close(): Promise<void>;
}

export async function startHoldingProxy(target: string): Promise<HoldingProxy> {
  const to = new URL(target);
  let held = false;
  const queue: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const forward = () => {
        const out = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on('error', () => res.destroy());
        out.end(Buffer.concat(chunks));
      };
      if (held) queue.push(forward);
      else forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: () => {
      held = true;
    },
    release: () => {
      held = false;
      for (const forward of queue.splice(0)) forward();
    },
    waiting: () => queue.length,
    close: () =>
      new Promise<void>((resolve) => {
        queue.splice(0);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
