import { createHash } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One delivery as a receiver saw it. */
export interface Arrival {
  webhookId: string;
  eventId: string;
  type: string;
  paymentId: string | null;
  sequence: number | null;
  status: number;
  at: number;
}

export interface WebhookReceiver {
  url: string;
  /** Every delivery, in arrival order, with the status it was answered. */
  arrivals: Arrival[];
  /** Deliveries whose signature the official `standardwebhooks` library refused. */
  badSignatures: number;
  /** The endpoint's secret (`whsec_…`), once created: every delivery is verified with it. */
  secret: string | null;
  close(): Promise<void>;
}

/**
 * A webhook receiver on a real socket that checks each delivery with the official Standard
 * Webhooks library and answers 503 to the first arrival of a share of event ids (chosen by a
 * hash of the id, so the same ids fail in every run), 200 to everything else.
 */
export async function startWebhookReceiver(o: { failOneIn?: number; answer?: (req: IncomingMessage, res: ServerResponse, body: string) => boolean } = {}): Promise<WebhookReceiver> {
  const seen = new Set<string>();
  const r: WebhookReceiver = {
    url: '',
    arrivals: [],
    badSignatures: 0,
    secret: null,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      if (o.answer?.(req, res, body)) return;
      const webhookId = String(req.headers['webhook-id']);
      let event: { id: string; type: string; payment_id: string | null; sequence: number | null };
      try {
        if (!r.secret) throw new Error('no secret yet');
        event = new Webhook(r.secret).verify(body, {
          'webhook-id': webhookId,
          'webhook-timestamp': String(req.headers['webhook-timestamp']),
          'webhook-signature': String(req.headers['webhook-signature']),
        }) as typeof event;
      } catch {
        r.badSignatures++;
        res.writeHead(400).end();
        return;
      }
      const first = !seen.has(webhookId);
      seen.add(webhookId);
      const fail = first && o.failOneIn !== undefined && createHash('sha256').update(webhookId).digest()[0]! % o.failOneIn === 0;
      const status = fail ? 503 : 200;
      r.arrivals.push({ webhookId, eventId: event.id, type: event.type, paymentId: event.payment_id, sequence: event.sequence, status, at: Date.now() });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(fail ? 'try later' : 'ok');
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return r;
}

/** One Server-Sent Event as read off the wire. */
export interface StreamedEvent {
  id: string;
  type: string;
  data: { id: string; payment_id: string | null; sequence: number | null };
}

/**
 * Reads `GET /v1/events/stream` and reconnects whenever the connection ends, sending the last
 * id seen as `Last-Event-ID` — to wherever `baseUrl()` points then (a restarted server listens
 * on a new port).
 */
export function followEventStream(baseUrl: () => string, apiKey: string, onEvent: (e: StreamedEvent) => void): { stop(): void; reconnects(): number } {
  let lastId: string | null = null;
  let stopped = false;
  let current: http.ClientRequest | null = null;
  let reconnects = 0;
  const connect = () => {
    if (stopped) return;
    const headers: Record<string, string> = { authorization: `Bearer ${apiKey}`, accept: 'text/event-stream' };
    if (lastId) headers['last-event-id'] = lastId;
    // One reconnection per connection, whichever of its end or errors comes first.
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      again();
    };
    const req = http.get(`${baseUrl()}/v1/events/stream`, { headers }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        res.on('end', end);
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let end: number;
        while ((end = buf.indexOf('\n\n')) !== -1) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const fields: Record<string, string> = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) continue;
            const i = line.indexOf(':');
            if (i > 0) fields[line.slice(0, i)] = line.slice(i + 1).trimStart();
          }
          if (fields.id && fields.data) {
            lastId = fields.id;
            onEvent({ id: fields.id, type: fields.event ?? '', data: JSON.parse(fields.data) });
          }
        }
      });
      res.on('end', end);
      res.on('error', end);
      res.on('close', end);
    });
    req.on('error', end);
    current = req;
  };
  function again() {
    if (stopped) return;
    reconnects++;
    setTimeout(connect, 200);
  }
  connect();
  return {
    stop() {
      stopped = true;
      current?.destroy();
    },
    reconnects: () => reconnects,
  };
}
