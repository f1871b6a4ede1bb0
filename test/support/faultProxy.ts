import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { seededRandom } from '../../src/ports/seeded.js';

/**
 * A fault-injecting HTTP proxy between a client and one or more `idem serve` instances (round-
 * robin), for the SDK's tests under faults (docs/client.md, "Tested"). Each request, by a seeded
 * draw, is either
 *
 *   reset    the client's connection is reset (TCP RST) before anything is forwarded: Idem never
 *            sees the request;
 *   dropped  forwarded, Idem's whole answer read, then the client's connection reset: Idem did
 *            the work and the client never hears of it;
 *   relayed  forwarded and answered as Idem answered.
 *
 * It records every request it saw per `Idempotency-Key` (in order, with its fate and Idem's
 * status), so a test can check what a client sent again and after what.
 */
export type Fate = 'reset' | 'dropped' | 'relayed';

export interface ProxiedRequest {
  method: string;
  path: string;
  fate: Fate;
  /** Idem's status (null when reset before forwarding). */
  status: number | null;
  /** The problem `code` in Idem's answer, if any. */
  code: string | undefined;
}

export interface FaultProxy {
  url: string;
  /** Every request per Idempotency-Key, in arrival order. */
  byKey: Map<string, ProxiedRequest[]>;
  counts: Record<Fate, number> & { requests: number };
  /** Keys whose client sent the key again after it had received (fate relayed) a final 4xx. */
  retriedAfterFinal4xx(): string[];
  close(): Promise<void>;
}

export interface FaultProxyOptions {
  targets: string[];
  seed: number;
  /** Share of requests reset before forwarding. */
  resetRate: number;
  /** Share of requests whose answer is dropped after Idem answered. */
  dropRate: number;
}

export async function startFaultProxy(o: FaultProxyOptions): Promise<FaultProxy> {
  const random = seededRandom(o.seed);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const byKey = new Map<string, ProxiedRequest[]>();
  const counts = { requests: 0, reset: 0, dropped: 0, relayed: 0 };
  const sockets = new Set<Socket>();
  let turn = 0;

  const server = http.createServer((req, res) => {
    const draw = random.float();
    const fate: Fate = draw < o.resetRate ? 'reset' : draw < o.resetRate + o.dropRate ? 'dropped' : 'relayed';
    const key = req.headers['idempotency-key'];
    const record: ProxiedRequest = { method: req.method ?? '', path: req.url ?? '', fate, status: null, code: undefined };
    counts.requests++;
    counts[fate]++;
    if (typeof key === 'string') {
      const list = byKey.get(key) ?? [];
      list.push(record);
      byKey.set(key, list);
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (fate === 'reset') {
        req.socket.resetAndDestroy();
        return;
      }
      const to = new URL(o.targets[turn++ % o.targets.length]!);
      const headers = { ...req.headers, host: to.host };
      const out = http.request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers, agent }, (answer) => {
        const body: Buffer[] = [];
        answer.on('data', (c: Buffer) => body.push(c));
        answer.on('end', () => {
          const bytes = Buffer.concat(body);
          record.status = answer.statusCode ?? 0;
          record.code = codeOf(bytes);
          if (fate === 'dropped') {
            req.socket.resetAndDestroy();
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          res.end(bytes);
        });
      });
      out.on('error', () => req.socket.destroy());
      out.end(Buffer.concat(chunks));
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    byKey,
    counts,
    retriedAfterFinal4xx() {
      const out: string[] = [];
      for (const [key, list] of byKey) {
        const i = list.findIndex((r) => r.fate === 'relayed' && r.status !== null && r.status >= 400 && r.status < 500 && !(r.status === 409 && r.code === 'IDEM_IN_PROGRESS'));
        if (i >= 0 && i < list.length - 1) out.push(`${key}: ${list.length - 1 - i} requests after a delivered ${list[i]!.status} ${list[i]!.code}`);
      }
      return out;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        agent.destroy();
        server.close(() => resolve());
      }),
  };
}

function codeOf(bytes: Buffer): string | undefined {
  try {
    const v = JSON.parse(bytes.toString('utf8')) as { code?: unknown };
    return typeof v.code === 'string' ? v.code : undefined;
  } catch {
    return undefined;
  }
}
