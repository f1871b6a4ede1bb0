/**
 * `idem events tail`: follows a merchant's events as they happen (`GET /v1/events/stream`,
 * Server-Sent Events, resumed from the last event id when the connection drops; docs/events.md).
 * One readable line per event, or JSON lines with `--json` for a pipe.
 */
import type { Command } from 'commander';
import type { EventView } from './api.js';
import { remoteApi, remoteOptions, type RemoteFlags } from './remote.js';

/** One line: time (UTC), type, payment and its status and amount when the event carries them, event id. */
export function eventLine(e: EventView): string {
  const payment = e.data.payment as { status?: string; amount?: number; currency?: string } | undefined;
  const state = payment?.status === undefined ? '' : `${payment.status}${payment.amount !== undefined ? ` ${payment.amount} ${payment.currency ?? ''}`.trimEnd() : ''}`;
  const time = e.created_at.slice(11, 23);
  return [time, e.type.padEnd(26), (e.payment_id ?? '—').padEnd(30), state.padEnd(24), e.id].join('  ').trimEnd() + '\n';
}

/** Registers `idem events tail`. */
export function registerEventsCommand(program: Command, fail: (err: unknown) => never): void {
  const events = program.command('events').description("a merchant's events, from a running instance");
  remoteOptions(events.command('tail'))
    .description('follow the events as they happen (GET /v1/events/stream); Ctrl-C stops')
    .option('--type <types>', 'only these event types, comma-separated (e.g. payment.captured,payment.refunded)')
    .option('--starting-after <id>', 'begin after this event id (default: from the first event)')
    .option('--count <n>', 'stop after this many events')
    .option('--json', 'one JSON object per line, as the API sends it')
    .action(async (flags: RemoteFlags & { type?: string; startingAfter?: string; count?: string; json?: boolean }) => {
      const count = flags.count === undefined ? Infinity : Number(flags.count);
      if (flags.count !== undefined && !(/^\d+$/.test(flags.count) && count >= 1)) fail(new Error(`--count must be a positive integer (got "${flags.count}")`));
      const api = remoteApi(flags, fail);
      const stop = new AbortController();
      process.once('SIGINT', () => stop.abort());
      process.once('SIGTERM', () => stop.abort());
      let seen = 0;
      try {
        for await (const e of api.events.stream({
          signal: stop.signal,
          ...(flags.type !== undefined ? { types: flags.type.split(',') } : {}),
          ...(flags.startingAfter !== undefined ? { startingAfter: flags.startingAfter } : {}),
        })) {
          process.stdout.write(flags.json ? `${JSON.stringify(e)}\n` : eventLine(e));
          if (++seen >= count) break;
        }
      } catch (err) {
        fail(err);
      }
      // The stream's socket may still be open: leave now rather than wait for the server.
      process.exit(0);
    });
}
