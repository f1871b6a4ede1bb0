import { exponentialBackoff, type Backoff } from '../resilience/backoff.js';
import type { SimAnswer, SimInstance, SimRequest } from './instance.js';
import type { World } from './world.js';

/** One answer a client received, with when and from which instance. */
export interface RecordedAnswer extends SimAnswer {
  at: number;
  instance: string;
  /**
   * For an answer that reports a payment's state: the payment's committed event types, read
   * from the store right after the answer arrived (filled in by the harness).
   */
  committedThen?: string[];
}

/** Every answer received, by `merchantId + ' ' + key`, in arrival order. */
export type AnswerLog = Map<string, RecordedAnswer[]>;

/** What a merchant's client does for one payment: create it, then follow up. */
export interface PaymentScript {
  merchantId: string;
  createKey: string;
  body: Record<string, unknown>;
  followUps: Array<{ op: 'capture' | 'void' | 'refunds'; key: string; amount?: number }>;
}

/** Client behaviour. */
export interface ClientOptions {
  /** No answer within this: the client gives up on that try and retries with the same key. */
  timeoutMs: number;
  /** Chance that a request is also sent, at once, to another instance with the same key. */
  duplicateRate: number;
  maxTries: number;
  /** Payments start within [0, startWithinMs]. */
  startWithinMs: number;
  /** Called with each answer as it arrives. */
  onAnswer?: (answer: RecordedAnswer) => void;
}

/**
 * Merchants' clients: each payment script sends its requests to random live instances, fires
 * concurrent duplicates, and retries with the same key on 202, 409 `IDEM_IN_PROGRESS`, 5xx and
 * silence (a crashed instance never answers). Every answer is recorded for the invariants.
 */
export class Clients {
  readonly answers: AnswerLog = new Map();
  requests = 0;
  private running = 0;
  /** Between tries of one request: 200 ms doubling to 5 s, plus up to 100 ms of spread. */
  private readonly backoff: Backoff;

  constructor(
    private readonly world: World,
    private readonly live: () => SimInstance[],
    private readonly o: ClientOptions,
  ) {
    this.backoff = exponentialBackoff({ baseMs: 100, capMs: 5000, jitter: { spreadMs: 100 }, random: world.random });
  }

  /** True once every script has ended. */
  get done(): boolean {
    return this.running === 0;
  }

  start(scripts: PaymentScript[]): void {
    for (const s of scripts) {
      this.running++;
      this.world.after(this.world.int(0, this.o.startWithinMs), () => {
        this.runScript(s).finally(() => this.running--);
      });
    }
  }

  private async runScript(s: PaymentScript): Promise<void> {
    const created = await this.send({ merchantId: s.merchantId, key: s.createKey, path: '/v1/payments', body: s.body, operation: 'create' });
    if (!created || created.status !== 201) return;
    const id = (JSON.parse(created.body) as { id: string }).id;
    for (const f of s.followUps) {
      await this.sleep(this.world.int(0, 3000));
      const body = f.amount === undefined ? {} : { amount: f.amount };
      const operation = f.op === 'refunds' ? 'refund' : f.op;
      const answer = await this.send({ merchantId: s.merchantId, key: f.key, path: `/v1/payments/${id}/${f.op}`, body, operation, paymentId: id });
      if (!answer || answer.status >= 300) return;
    }
  }

  /** Sends until a final answer (anything but 202, 409 in progress, 5xx, silence) or `maxTries`. */
  private async send(req: SimRequest): Promise<SimAnswer | null> {
    for (let attempt = 0; attempt < this.o.maxTries; attempt++) {
      if (attempt > 0) await this.sleep(this.backoff.delay(attempt));
      const live = this.live();
      if (live.length === 0) continue;
      const target = live[this.world.int(0, live.length - 1)]!;
      if (this.world.chance(this.o.duplicateRate)) {
        const other = live[this.world.int(0, live.length - 1)]!;
        void this.once(other, req, 'dup');
      }
      const answer = await this.once(target, req, attempt === 0 ? 'send' : 'retry');
      if (answer === null) continue;
      const inProgress = answer.status === 409 && answer.body.includes('IDEM_IN_PROGRESS');
      if (answer.status === 202 || inProgress || answer.status >= 500) continue;
      return answer;
    }
    return null;
  }

  /** One try: resolves with the answer, or null when the client's timeout ends first. */
  private once(instance: SimInstance, req: SimRequest, how: string): Promise<SimAnswer | null> {
    const { world } = this;
    this.requests++;
    world.log('client', `${how} ${req.merchantId}/${req.key} POST ${req.path} → ${instance.name}`);
    return new Promise((resolve) => {
      let settled = false;
      const cancel = world.after(this.o.timeoutMs, () => {
        if (settled) return;
        settled = true;
        world.log('client', `${req.merchantId}/${req.key}: no answer from ${instance.name}`);
        resolve(null);
      });
      world.after(world.int(1, 5), () => {
        if (!instance.alive) return;
        instance.handle(req).then((answer) => {
          // The answer travels back over the same connection; a dead process sends nothing.
          if (!instance.alive) return;
          const list = this.answers.get(req.merchantId + ' ' + req.key) ?? [];
          const recorded: RecordedAnswer = { ...answer, at: world.now, instance: instance.name };
          list.push(recorded);
          this.answers.set(req.merchantId + ' ' + req.key, list);
          this.o.onAnswer?.(recorded);
          world.log('client', `${req.merchantId}/${req.key} ← ${answer.status}${answer.replayed ? ' replayed' : ''} from ${instance.name}`);
          if (settled) return;
          settled = true;
          cancel();
          resolve(answer);
        });
      });
    });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.world.after(ms, resolve));
  }
}
