import type { RedisClient } from './connect.js';
import type { GatewayObservation } from '../../resilience/book.js';
import type { ObservationLog } from '../../resilience/shared.js';
import type { Clock } from '../../ports/clock.js';

/**
 * The shared gateway-answer log on a Redis stream (docs/resilience.md): one XADD per answer,
 * pipelined per batch, capped near `maxLen` entries; read with exclusive XRANGE from the last
 * id seen. A first read starts `warmMs` back, so a new instance learns the recent past.
 */
export class RedisObservationLog implements ObservationLog {
  readonly name = 'redis';

  constructor(
    private readonly redis: RedisClient,
    private readonly clock: Clock,
    private readonly stream = 'idem:gateway-observations',
    private readonly maxLen = 50_000,
  ) {}

  async append(instance: string, batch: readonly GatewayObservation[]): Promise<void> {
    const p = this.redis.pipeline();
    for (const ob of batch) p.xadd(this.stream, 'MAXLEN', '~', String(this.maxLen), '*', 'i', instance, 'o', JSON.stringify(ob));
    const results = (await p.exec()) ?? [];
    const failed = results.find(([err]) => err);
    if (failed) throw failed[0]!;
  }

  async read(cursor: string | null, limit: number, warmMs: number) {
    const start = cursor === null ? `${Math.max(0, this.clock.now() - warmMs)}-0` : `(${cursor}`;
    const rows = await this.redis.xrange(this.stream, start, '+', 'COUNT', limit);
    const entries: Array<{ instance: string; observation: GatewayObservation }> = [];
    for (const [, fields] of rows) {
      const f = fieldsOf(fields);
      const observation = parseObservation(f.o);
      if (observation && f.i !== undefined) entries.push({ instance: f.i, observation });
    }
    return { entries, cursor: rows.at(-1)?.[0] ?? cursor };
  }
}

function fieldsOf(flat: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

/** An entry another instance (or another version) wrote: taken only if it has the fields the model reads. */
export function parseObservation(text: string | undefined): GatewayObservation | null {
  if (text === undefined) return null;
  try {
    const o = JSON.parse(text) as GatewayObservation;
    if (typeof o.at !== 'number' || typeof o.gateway !== 'string' || typeof o.operation !== 'string' || typeof o.outcome !== 'string' || typeof o.latencyMs !== 'number') return null;
    return o;
  } catch {
    return null;
  }
}
