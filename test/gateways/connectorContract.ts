/**
 * The connector contract (docs/gateways.md, "Adding a connector"): what every GatewayConnector
 * must do against its processor, whatever the processor's protocol. Each connector's test calls
 * {@link connectorContract} with a factory that starts a fresh processor (a fake on loopback, the
 * in-process simulator, or a live test account) and hands back the connector, a view of the
 * processor's own log (to check I1 from the processor's side: no operation executed twice) and
 * its fault controls. A live account has neither log nor faults: those cases are skipped there.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { GatewayConnector, GatewayOperation, GatewayOutcome, GatewayRequest } from '../../src/gateways/port.js';
import { gatewayKey } from '../../src/gateways/port.js';

/** One operation the processor executed, as its own log says. */
export interface ProcessorLogEntry {
  /** The idempotency key the processor executed it under. */
  gatewayKey: string;
  operation: GatewayOperation;
  amount: number;
  status: 'succeeded' | 'declined';
}

/** Faults the processor can be told to show (fakes and the simulator; never a live account). */
export interface ContractFaults {
  /** While on, each operation executes and its answer is lost (the connector sees a timeout or reset). */
  loseAnswers(on: boolean): void | Promise<void>;
  /** While on, the processor refuses everything and executes nothing. */
  outage(on: boolean): void | Promise<void>;
}

/** A fresh processor and a connector to it. */
export interface ContractSubject {
  connector: GatewayConnector;
  /** A card token the processor approves, and one it declines with `declineCode`. */
  cards: { approved: string; declined: string; declineCode: string };
  currency: string;
  /** The processor's own log of executed operations; absent on a live account. */
  log?: () => Promise<ProcessorLogEntry[]>;
  faults?: ContractFaults;
  /**
   * The processor answers capture, void and refund "received" and tells the result later in a
   * notification (Adyen): the connector must call those answers unknown — pending, never a
   * success — and its status lookup must find the result once the notification is in.
   */
  pendingModifications?: boolean;
  close(): Promise<void>;
}

/**
 * Runs the contract as a `describe` block named after the connector. `skip`: why it cannot run
 * here (a live account without credentials); it is printed loudly and the block is skipped,
 * never failed.
 */
export function connectorContract(name: string, start: () => Promise<ContractSubject>, options: { skip?: string | undefined } = {}): void {
  if (options.skip !== undefined) console.warn(`\n*** connector contract: ${name} SKIPPED: ${options.skip} ***\n`);
  (options.skip !== undefined ? describe.skip : describe)(`connector contract: ${name}`, () => {
    let subject: ContractSubject | undefined;
    let seq = 0;

    afterEach(async () => {
      await subject?.close();
      subject = undefined;
    });

    async function open(): Promise<ContractSubject> {
      subject = await start();
      return subject;
    }

    /** A payment id unique across runs, so a live account's history never answers for this run. */
    function paymentId(): string {
      seq += 1;
      return `pay_ct${Date.now().toString(36)}${process.pid.toString(36)}${seq}`;
    }

    function authorizeRequest(s: ContractSubject, payment: string, amount = 1000, token = s.cards.approved): GatewayRequest {
      return { operation: 'authorize', gatewayKey: gatewayKey(payment, 'authorize', 1), amount, currency: s.currency, reference: payment, token };
    }

    function follow(s: ContractSubject, payment: string, operation: Exclude<GatewayOperation, 'authorize'>, authorizationId: string, amount: number, attempt = 1): GatewayRequest {
      return { operation, gatewayKey: gatewayKey(payment, operation, attempt), amount, currency: s.currency, reference: payment, authorizationId };
    }

    /** Executes a request and, for a processor that answers modifications later, waits for what its notification says. */
    async function settled(s: ContractSubject, request: GatewayRequest): Promise<GatewayOutcome> {
      const outcome = await s.connector.execute(request);
      if (!s.pendingModifications || request.operation === 'authorize') return outcome;
      expect(outcome, 'a modification answered "received" is pending').toMatchObject({ class: 'unknown' });
      return lookUntilFound(s.connector, request.gatewayKey);
    }

    async function authorized(s: ContractSubject, payment: string, amount = 1000): Promise<string> {
      const outcome = await s.connector.execute(authorizeRequest(s, payment, amount));
      expect(outcome).toMatchObject({ class: 'success' });
      return authorizationOf(outcome);
    }

    /** I1 from the processor's side: every key executed at most once. */
    async function executedOnce(s: ContractSubject, keys: string[]): Promise<ProcessorLogEntry[]> {
      if (!s.log) return [];
      const log = await s.log();
      for (const key of keys) expect(log.filter((e) => e.gatewayKey === key), `executions under ${key}`).toHaveLength(1);
      const counts = new Map<string, number>();
      for (const e of log) counts.set(e.gatewayKey, (counts.get(e.gatewayKey) ?? 0) + 1);
      expect([...counts].filter(([, n]) => n > 1), 'keys executed twice').toEqual([]);
      return log;
    }

    it('authorizes: success with the processor ids, executed once under the gateway key', async () => {
      const s = await open();
      const payment = paymentId();
      const request = authorizeRequest(s, payment, 1500);
      const outcome = await s.connector.execute(request);
      expect(outcome).toMatchObject({ class: 'success', transactionId: expect.any(String) });
      expect(authorizationOf(outcome)).not.toBe('');
      const log = await executedOnce(s, [request.gatewayKey]);
      if (s.log) expect(log.find((e) => e.gatewayKey === request.gatewayKey)).toMatchObject({ operation: 'authorize', amount: 1500, status: 'succeeded' });
    });

    it('captures part of an authorization', async () => {
      const s = await open();
      const payment = paymentId();
      const auth = await authorized(s, payment, 1000);
      const capture = follow(s, payment, 'capture', auth, 600);
      expect(await settled(s, capture)).toMatchObject({ class: 'success' });
      const log = await executedOnce(s, [gatewayKey(payment, 'authorize', 1), capture.gatewayKey]);
      if (s.log) expect(log.find((e) => e.gatewayKey === capture.gatewayKey)).toMatchObject({ operation: 'capture', amount: 600, status: 'succeeded' });
    });

    it('voids an authorization', async () => {
      const s = await open();
      const payment = paymentId();
      const auth = await authorized(s, payment);
      const voided = follow(s, payment, 'void', auth, 1000);
      expect(await settled(s, voided)).toMatchObject({ class: 'success' });
      await executedOnce(s, [voided.gatewayKey]);
    });

    it('refunds part of a capture', async () => {
      const s = await open();
      const payment = paymentId();
      const auth = await authorized(s, payment, 1000);
      expect(await settled(s, follow(s, payment, 'capture', auth, 1000))).toMatchObject({ class: 'success' });
      const refund = follow(s, payment, 'refund', auth, 300);
      expect(await settled(s, refund)).toMatchObject({ class: 'success' });
      const log = await executedOnce(s, [refund.gatewayKey]);
      if (s.log) expect(log.find((e) => e.gatewayKey === refund.gatewayKey)).toMatchObject({ operation: 'refund', amount: 300 });
    });

    it('declines: a definitive refusal with the processor code, nothing succeeded', async () => {
      const s = await open();
      const payment = paymentId();
      const request = authorizeRequest(s, payment, 1000, s.cards.declined);
      expect(await s.connector.execute(request)).toMatchObject({ class: 'decline', declineCode: s.cards.declineCode });
      if (s.log) expect((await s.log()).filter((e) => e.gatewayKey === request.gatewayKey && e.status === 'succeeded')).toEqual([]);
      // Asked again, it says the same: a decline is final.
      const looked = await s.connector.status(request.gatewayKey);
      expect(looked.found === true ? looked.outcome.class : 'decline').toBe('decline');
    });

    it('re-sent under the same key: the first answer again, executed once', async () => {
      const s = await open();
      const payment = paymentId();
      const request = authorizeRequest(s, payment);
      const first = await s.connector.execute(request);
      const second = await s.connector.execute(request);
      expect(first).toMatchObject({ class: 'success' });
      expect(second).toEqual(first);
      await executedOnce(s, [request.gatewayKey]);
    });

    it('a key never sent is not found as executed', async () => {
      const s = await open();
      const looked = await s.connector.status(gatewayKey(paymentId(), 'authorize', 1));
      expect(looked.found).not.toBe(true);
    });

    it('lost answer: unknown, then the lookup finds what executed, and a re-send executes nothing new', async (ctx) => {
      const s = await open();
      if (!s.faults || !s.log) return ctx.skip();
      const payment = paymentId();
      const request = authorizeRequest(s, payment, 1200);
      await s.faults.loseAnswers(true);
      const lost = await s.connector.execute(request);
      await s.faults.loseAnswers(false);
      expect(lost).toMatchObject({ class: 'unknown' });
      const [executed] = (await s.log()).filter((e) => e.gatewayKey === request.gatewayKey);
      expect(executed).toMatchObject({ operation: 'authorize', amount: 1200, status: 'succeeded' });

      const looked = await lookUntilFound(s.connector, request.gatewayKey);
      expect(looked).toMatchObject({ class: 'success' });
      const again = await s.connector.execute(request);
      expect(again).toMatchObject({ class: 'success', transactionId: (looked as { transactionId: string }).transactionId });
      expect(authorizationOf(again)).toBe(authorizationOf(looked));

      // A capture whose answer is lost is found the same way.
      const capture = follow(s, payment, 'capture', authorizationOf(again), 700);
      await s.faults.loseAnswers(true);
      expect(await s.connector.execute(capture)).toMatchObject({ class: 'unknown' });
      await s.faults.loseAnswers(false);
      expect(await lookUntilFound(s.connector, capture.gatewayKey)).toMatchObject({ class: 'success' });
      await executedOnce(s, [request.gatewayKey, capture.gatewayKey]);
    });

    it('outage: not processed, nothing executed; the same key works once the processor is back', async (ctx) => {
      const s = await open();
      if (!s.faults || !s.log) return ctx.skip();
      const payment = paymentId();
      const request = authorizeRequest(s, payment);
      await s.faults.outage(true);
      expect(await s.connector.execute(request)).toMatchObject({ class: 'not_processed' });
      const looked = await s.connector.status(request.gatewayKey);
      expect(looked.found).not.toBe(true);
      expect(await s.log()).toEqual([]);
      await s.faults.outage(false);
      expect(await s.connector.execute(request)).toMatchObject({ class: 'success' });
      await executedOnce(s, [request.gatewayKey]);
    });
  });
}

function authorizationOf(outcome: GatewayOutcome): string {
  if (outcome.class !== 'success') throw new Error(`expected a success, got ${JSON.stringify(outcome)}`);
  return outcome.authorizationId ?? outcome.transactionId;
}

/**
 * Asks for a key until the processor tells (a search index may lag behind what executed: the
 * connector says `unknown` meanwhile, and Idem asks again later). Bounded: 50 asks.
 */
async function lookUntilFound(connector: GatewayConnector, key: string): Promise<GatewayOutcome> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    const looked = await connector.status(key);
    if (looked.found === true) return looked.outcome;
    last = looked;
    await new Promise((resolve) => setTimeout(resolve, 20 * Math.min(i + 1, 10)));
  }
  throw new Error(`status(${key}) never found the executed operation; last answer ${JSON.stringify(last)}`);
}
