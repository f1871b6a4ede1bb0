/**
 * A loopback endpoint that receives the Adyen fake's notifications the way Idem's route does
 * (`receiveAdyenNotifications`: HMAC verified, stored, `[accepted]`), for connector tests that
 * run without a whole Idem.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MemoryNotificationLog } from '../../src/gateways/adyen/memoryLog.js';
import { receiveAdyenNotifications } from '../../src/gateways/adyen/receive.js';

export async function startAdyenReceiver(gateway: string, hmacKey: string, merchantAccount: string): Promise<{ url: string; log: MemoryNotificationLog; close(): Promise<void> }> {
  const log = new MemoryNotificationLog();
  const target = { gateway, hmacKey, merchantAccount, log, recordedKeys: async () => new Set<string>() };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      void receiveAdyenNotifications(target, body, Date.now()).then(
        (r) => res.writeHead(r.kind === 'accepted' ? 200 : 400).end(r.kind === 'accepted' ? '[accepted]' : r.kind),
        () => res.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/notifications`,
    log,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
