import type { Queryable } from '../../db/database.js';
import type { GatewayOperation } from '../../gateways/port.js';
import type { ProbeClaim, ProbeLeaseStore, ProbeSchedule } from '../../resilience/probes.js';

/**
 * Probe leases in PostgreSQL (src/resilience/probes.ts), used when Redis is absent or down: one
 * row per gateway × operation, taken by compare-and-set on its end (an upsert whose update
 * applies only to a lease that has ended), so of two instances one gets the interval. The
 * schedule's arithmetic is `nextProbeLease`'s; times are Idem's clock. A lease taken on Redis
 * is noted here too (`note`), so a fallback goes on with its schedule.
 */
export class SqlProbeLeases implements ProbeLeaseStore {
  readonly name = 'postgres';

  constructor(private readonly db: Queryable) {}

  async claim(gateway: string, operation: GatewayOperation, holder: string, now: number, schedule: ProbeSchedule): Promise<ProbeClaim> {
    const { rows } = await this.db.query<{ granted: boolean; lease_until: Date; gap_ms: number }>(
      `WITH claimed AS (
         INSERT INTO gateway_probe_leases AS l (gateway, operation, holder, lease_until, gap_ms)
         VALUES ($1, $2, $3, $4::timestamptz + $5::int * interval '1 millisecond', $5::int)
         ON CONFLICT (gateway, operation) DO UPDATE
            SET holder = EXCLUDED.holder,
                gap_ms = CASE WHEN $4::timestamptz > l.lease_until + $6::int * interval '1 millisecond' THEN $5::int ELSE LEAST($6::int, l.gap_ms * 2) END,
                lease_until = $4::timestamptz
                  + (CASE WHEN $4::timestamptz > l.lease_until + $6::int * interval '1 millisecond' THEN $5::int ELSE LEAST($6::int, l.gap_ms * 2) END) * interval '1 millisecond'
          WHERE l.lease_until <= $4::timestamptz
         RETURNING lease_until, gap_ms
       )
       SELECT true AS granted, lease_until, gap_ms FROM claimed
       UNION ALL
       SELECT false, lease_until, gap_ms FROM gateway_probe_leases
        WHERE gateway = $1 AND operation = $2 AND NOT EXISTS (SELECT 1 FROM claimed)`,
      [gateway, operation, holder, new Date(now), schedule.minMs, schedule.maxMs],
    );
    const r = rows[0];
    // A row taken and released between the two reads: ask again at the next payment.
    if (!r) return { granted: false, until: now };
    return r.granted ? { granted: true, until: r.lease_until.getTime(), gapMs: r.gap_ms } : { granted: false, until: r.lease_until.getTime() };
  }

  async note(gateway: string, operation: GatewayOperation, holder: string, until: number, gapMs: number): Promise<void> {
    await this.db.query(
      `INSERT INTO gateway_probe_leases (gateway, operation, holder, lease_until, gap_ms) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (gateway, operation) DO UPDATE SET holder = EXCLUDED.holder, lease_until = EXCLUDED.lease_until, gap_ms = EXCLUDED.gap_ms`,
      [gateway, operation, holder, new Date(until), gapMs],
    );
  }
}
