/**
 * `idem payments list|get`: a merchant's payments as a running instance answers them
 * (`GET /v1/payments`, `GET /v1/payments/{id}`), as tables, or as the API's JSON with `--json`.
 */
import type { Command } from 'commander';
import type { PaymentPage, PaymentView } from './api.js';
import { remoteApi, remoteOptions, type RemoteFlags } from './remote.js';
import { table } from './table.js';

const money = (minor: number, currency: string) => `${minor} ${currency}`;

/** One line per payment, newest first, and how to ask for the next page. */
export function paymentsTable(page: PaymentPage): string {
  if (page.data.length === 0) return '(no payments)\n';
  const rows = page.data.map((p) => [p.id, p.status, money(p.amount, p.currency), String(p.amount_captured), String(p.amount_refunded), p.gateway ?? '—', p.created_at, p.reference ?? '']);
  const out = table([['payment', 'status', 'amount', 'captured', 'refunded', 'gateway', 'created', 'reference'], ...rows]);
  return page.has_more && page.next_cursor !== null ? `${out}more: --cursor ${page.next_cursor}\n` : out;
}

/** The payment's amounts, then its attempts. */
export function paymentDetail(p: PaymentView): string {
  const fields: Array<[string, string]> = [
    ['payment', p.id],
    ['status', p.status],
    ['amount', `${money(p.amount, p.currency)} (${p.capture_method} capture)`],
    ['authorized', String(p.amount_authorized)],
    ['captured', String(p.amount_captured)],
    ['refunded', String(p.amount_refunded)],
    ['voided', String(p.amount_voided)],
    ['gateway', p.gateway ?? '—'],
    ['reference', p.reference ?? '—'],
    ['created', p.created_at],
  ];
  let out = table(fields.map(([k, v]) => [`${k}:`, v]));
  const attempts = p.attempts ?? [];
  if (attempts.length > 0) {
    out += `\n${table([['attempt', 'operation', 'gateway', 'amount', 'status', 'at'], ...attempts.map((a) => [a.id, a.operation, a.gateway, String(a.amount ?? ''), a.status, a.created_at ?? ''])])}`;
  }
  return out;
}

/** Registers `idem payments list` and `idem payments get`. */
export function registerPaymentsCommand(program: Command, fail: (err: unknown) => never): void {
  const payments = program.command('payments').description("a merchant's payments, from a running instance");
  remoteOptions(payments.command('list'))
    .description('payments, newest first (GET /v1/payments)')
    .option('--limit <n>', 'how many, 1-100', '20')
    .option('--cursor <cursor>', 'the page after this cursor (printed under a page that has more)')
    .option('--json', 'print the API answer as JSON')
    .action(async (flags: RemoteFlags & { limit: string; cursor?: string; json?: boolean }) => {
      const limit = Number(flags.limit);
      if (!/^\d+$/.test(flags.limit) || limit < 1 || limit > 100) fail(new Error(`--limit must be an integer from 1 to 100 (got "${flags.limit}")`));
      const page = await remoteApi(flags, fail).payments.list({ limit, ...(flags.cursor !== undefined ? { cursor: flags.cursor } : {}) }).catch(fail);
      process.stdout.write(flags.json ? `${JSON.stringify(page, null, 2)}\n` : paymentsTable(page));
    });
  remoteOptions(payments.command('get <id>'))
    .description('one payment with its attempts (GET /v1/payments/{id})')
    .option('--json', 'print the API answer as JSON')
    .action(async (id: string, flags: RemoteFlags & { json?: boolean }) => {
      const payment = await remoteApi(flags, fail).payments.get(id).catch(fail);
      process.stdout.write(flags.json ? `${JSON.stringify(payment, null, 2)}\n` : paymentDetail(payment));
    });
}
