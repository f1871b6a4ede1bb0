import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { WebhookTransport } from '../events/delivery.js';
import { isPrivateAddress, parseRetryAfter, type SendResult } from '../events/webhooks.js';

export interface WebhookHttpOptions {
  /** Whole send, connect to last byte read. */
  timeoutMs?: number;
  /** Response bytes read at most; the rest is dropped with the connection. */
  maxResponseBytes?: number;
  /** Send to loopback and private addresses (`IDEM_WEBHOOK_ALLOW_PRIVATE=1`). */
  allowPrivate?: boolean;
  /** Connections kept per receiver host. */
  maxSocketsPerHost?: number;
}

/** Thrown through the lookup when a host resolves to an address webhooks may not reach. */
class PrivateAddressError extends Error {
  override readonly name = 'PrivateAddressError';
}

/**
 * Resolves a host and refuses it if any address is private (unless allowed). The delivery
 * connects through this lookup, so a name that resolved to a public address when the endpoint
 * was created and to a private one now (DNS rebinding) is still refused.
 */
export function guardedLookup(allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return (callback as (e: Error | null, a: string | LookupAddress[], f?: number) => void)(err, '', 0);
      const list = addresses as LookupAddress[];
      const bad = !allowPrivate && list.find((a) => isPrivateAddress(a.address));
      if (bad) {
        return (callback as (e: Error | null, a: string, f?: number) => void)(new PrivateAddressError(`${hostname} resolves to a private address (${bad.address})`), '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as (e: null, a: LookupAddress[]) => void)(null, list);
      return (callback as (e: null, a: string, f: number) => void)(null, list[0]!.address, list[0]!.family);
    });
  };
}

/** Resolves a URL's host to its addresses (for the check when an endpoint is created). */
export function resolveHost(hostname: string): Promise<string[]> {
  const h = hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) =>
    dnsLookup(h, { all: true }, (err, addresses) => (err ? reject(err) : resolve((addresses as LookupAddress[]).map((a) => a.address)))),
  );
}

/**
 * Webhook sends over HTTP(S) (docs/events.md, "Receivers that misbehave"): a hard timeout on
 * the whole exchange, at most `maxResponseBytes` of the answer read, keep-alive connections
 * bounded per host, no redirects followed, and private addresses refused at connect time.
 */
export function webhookHttpTransport(o: WebhookHttpOptions = {}): WebhookTransport & { close(): void } {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const maxBytes = o.maxResponseBytes ?? 64 * 1024;
  const lookup = guardedLookup(o.allowPrivate ?? false);
  const agentOptions = { keepAlive: true, maxSockets: o.maxSocketsPerHost ?? 8, lookup };
  const agents = { 'http:': new http.Agent(agentOptions), 'https:': new https.Agent(agentOptions) };

  return {
    send(url: string, headers: Record<string, string>, body: string): Promise<SendResult> {
      return new Promise((resolve) => {
        let settled = false;
        let timer: NodeJS.Timeout | undefined;
        const done = (r: SendResult) => {
          if (settled) return;
          settled = true;
          if (timer) clearTimeout(timer);
          resolve(r);
        };
        let target: URL;
        try {
          target = new URL(url);
        } catch {
          return done({ kind: 'failed', error: 'invalid url' });
        }
        // An address written in the URL is connected to without a lookup: check it here.
        const host = target.hostname.replace(/^\[|\]$/g, '');
        if (!o.allowPrivate && isIP(host) !== 0 && isPrivateAddress(host)) return done({ kind: 'failed', error: `${host} is a private address` });
        const mod = target.protocol === 'https:' ? https : http;
        const agent = agents[target.protocol as 'http:' | 'https:'];
        if (!agent) return done({ kind: 'failed', error: 'unsupported protocol' });
        const req = mod.request(target, { method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
          let read = 0;
          res.on('data', (chunk: Buffer) => {
            read += chunk.length;
            // Enough to know it answered: drop the rest with the connection.
            if (read > maxBytes) {
              req.destroy();
              finish();
            }
          });
          res.on('end', finish);
          res.on('error', finish);
          function finish() {
            const retryAfter = parseRetryAfter(res.headers['retry-after'], Date.now());
            done({ kind: 'answered', status: res.statusCode ?? 0, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) });
          }
        });
        timer = setTimeout(() => {
          req.destroy();
          done({ kind: 'failed', error: `no answer within ${timeoutMs} ms` });
        }, timeoutMs);
        req.on('error', (err) => done({ kind: 'failed', error: err instanceof PrivateAddressError ? err.message : `${(err as NodeJS.ErrnoException).code ?? 'error'}: ${err.message}` }));
        req.end(body);
      });
    },
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
