/**
 * How `idem serve` builds its Adyen gateways from `IDEM_GATEWAYS` (docs/gateways.md, "Adyen"):
 * the credentials document `credentials_ref` points at, the connector, and the notification
 * endpoint's target for each.
 */
import { ConfigError, type GatewayConfig } from '../../config/config.js';
import type { Clock, Timers } from '../../ports/clock.js';
import type { Store } from '../../store/port.js';
import type { Secret } from '../credentials.js';
import type { GatewayConnector } from '../port.js';
import { createAdyenConnector } from './connector.js';
import type { AdyenNotification, NotificationLog, StoredNotification } from './notifications.js';
import type { AdyenNotificationTarget } from './receive.js';
import type { SettlementFile, SettlementFileLog, StoredSettlementFile } from './settlementFiles.js';

/** An Adyen gateway's secrets, as its credentials document holds them. */
export interface AdyenCredentials {
  apiKey: string;
  hmacKey: string;
  merchantAccount: string;
}

/**
 * Reads the credentials document: JSON `{ "api_key", "hmac_key", "merchant_account" }` (the
 * HMAC key in hex, as Adyen's Customer Area shows it). A problem names the gateway and the
 * field, never a value.
 */
export function adyenCredentials(gateway: string, secret: Secret): AdyenCredentials {
  const where = `gateway "${gateway}": the credentials for kind "adyen"`;
  let doc: unknown;
  try {
    doc = JSON.parse(secret.reveal());
  } catch {
    throw new ConfigError(`${where} must be a JSON object {"api_key","hmac_key","merchant_account"}`, 'GATEWAY_CREDENTIALS');
  }
  const field = (name: string, pattern: RegExp): string => {
    const v = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>)[name] : undefined;
    if (typeof v !== 'string' || !pattern.test(v)) throw new ConfigError(`${where}: "${name}" is missing or malformed`, 'GATEWAY_CREDENTIALS');
    return v;
  };
  return { apiKey: field('api_key', /^\S{8,}$/), hmacKey: field('hmac_key', /^([0-9a-fA-F]{2}){16,}$/), merchantAccount: field('merchant_account', /^\S{1,200}$/) };
}

/**
 * The notification store, bound once the database is open: connectors are built before (a bad
 * credential stops start-up before anything opens), their notifications are read after.
 */
export class BoundNotificationLog implements NotificationLog {
  private target: NotificationLog | null = null;

  bind(log: NotificationLog): void {
    this.target = log;
  }

  private get log(): NotificationLog {
    if (this.target === null) throw new Error('the notification store is not open');
    return this.target;
  }

  record(gateway: string, items: readonly AdyenNotification[], receivedAt: number): Promise<number> {
    return this.log.record(gateway, items, receivedAt);
  }

  find(gateway: string, reference: string): Promise<StoredNotification[]> {
    return this.log.find(gateway, reference);
  }

  findByPsp(gateway: string, pspReference: string): Promise<StoredNotification[]> {
    return this.log.findByPsp(gateway, pspReference);
  }

  page(gateway: string, afterId: string | null, sinceMs: number, limit: number): Promise<StoredNotification[]> {
    return this.log.page(gateway, afterId, sinceMs, limit);
  }
}

/** The settlement report files read, bound once the database is open (as {@link BoundNotificationLog}). */
export class BoundSettlementFileLog implements SettlementFileLog {
  private target: SettlementFileLog | null = null;

  bind(log: SettlementFileLog): void {
    this.target = log;
  }

  private get log(): SettlementFileLog {
    if (this.target === null) throw new Error('the settlement report store is not open');
    return this.target;
  }

  seen(gateway: string, name: string, size: number, modifiedAt: number): Promise<boolean> {
    return this.log.seen(gateway, name, size, modifiedAt);
  }

  add(gateway: string, file: SettlementFile, readAt: number): Promise<'new' | 'copy'> {
    return this.log.add(gateway, file, readAt);
  }

  page(gateway: string, afterId: string | null, limit: number): Promise<StoredSettlementFile[]> {
    return this.log.page(gateway, afterId, limit);
  }
}

/** Idem's Adyen gateways: their connectors and their notification endpoints, sharing one store. */
export class AdyenGateways {
  readonly log = new BoundNotificationLog();
  readonly settlementFiles = new BoundSettlementFileLog();
  private readonly credentials = new Map<string, AdyenCredentials>();

  /** Binds the stores the connectors read: the notifications and the settlement report files read. */
  bind(notifications: NotificationLog, files: SettlementFileLog): void {
    this.log.bind(notifications);
    this.settlementFiles.bind(files);
  }

  /** The connector for gateway `g` (kind `adyen`) with the secret its `credentials_ref` named. */
  connector(g: GatewayConfig, secret: Secret, timers: Timers, clock: Clock): GatewayConnector {
    const c = adyenCredentials(g.name, secret);
    this.credentials.set(g.name, c);
    const settlementReports = g.settlementReportsDir === undefined ? undefined : { dir: g.settlementReportsDir, files: this.settlementFiles, clock };
    return createAdyenConnector({ name: g.name, apiKey: c.apiKey, merchantAccount: c.merchantAccount, baseUrl: g.baseUrl, timeoutMs: g.timeoutMs, timers, notifications: this.log, settlementReports });
  }

  /**
   * Each Adyen gateway's notification target: it tells which gateway keys are Idem's attempts
   * at it (`recordedKeys`), and makes the open attempts of the payments a notification named
   * due and wakes the relay (`wake`, then `wakeRelay`).
   */
  targets(store: Pick<Store, 'reconciliationFacts' | 'hastenWork'>, clock: Clock, wakeRelay: () => void): Map<string, AdyenNotificationTarget> {
    const recordedKeys = async (gateway: string, keys: readonly string[]) =>
      new Set((await store.reconciliationFacts({ references: [], authorizationIds: [], gatewayKeys: keys })).attempts.filter((a) => a.gateway === gateway).map((a) => a.gateway_key));
    // Rows already due are picked up too: the relay may be asleep on a long idle timer.
    const wake = async (gateway: string, paymentIds: readonly string[]) => {
      await store.hastenWork(gateway, paymentIds, clock.now());
      wakeRelay();
    };
    return new Map(
      [...this.credentials].map(([gateway, c]): [string, AdyenNotificationTarget] => [
        gateway,
        {
          gateway,
          hmacKey: c.hmacKey,
          merchantAccount: c.merchantAccount,
          log: this.log,
          recordedKeys: (keys: readonly string[]) => recordedKeys(gateway, keys),
          wake: (paymentIds: readonly string[]) => wake(gateway, paymentIds),
        },
      ]),
    );
  }
}
