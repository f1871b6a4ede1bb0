/**
 * What a dark gateway's own call log may show once every instance routes away from it: only
 * the deployment's shared probes (docs/resilience.md, "Shared by every instance"). The leases
 * run one schedule for the whole deployment — intervals of `minMs` doubling to `maxMs` — so
 * the k-th probe after any probe comes at least `offsets[k]` after it (0, 250, 750, 1750, 3750,
 * 7750 ms … with the defaults): the densest stretch is at the start. Probes arrive at the
 * gateway later than their lease began by the time a payment takes to reach its call, so each
 * check allows `slackMs` of it.
 *
 * Instances probing each on its own schedule send about twice as many into the same windows,
 * which is what these checks catch (src/resilience/probes.test.ts shows it both ways).
 */
export interface ProbeBound {
  minMs: number;
  maxMs: number;
  slackMs: number;
}

/** The earliest times, from a first probe, that the next probes of one schedule may start. */
export function scheduleOffsets(b: Pick<ProbeBound, 'minMs' | 'maxMs'>, untilMs: number): number[] {
  const offsets = [0];
  let gap = b.minMs;
  while (offsets.at(-1)! + gap <= untilMs) {
    offsets.push(offsets.at(-1)! + gap);
    gap = Math.min(b.maxMs, gap * 2);
  }
  return offsets;
}

/** How many probes one schedule allows in a window of `windowMs`. */
export function allowedInWindow(b: ProbeBound, windowMs: number): number {
  return scheduleOffsets(b, windowMs + b.slackMs).filter((o) => o < windowMs + b.slackMs).length;
}

/**
 * Counts the probes (arrival times at the gateway, ms) in windows of `windowMs` starting at
 * each probe, and over the whole span from `from` to `to`; returns what exceeds the schedule
 * (nothing when the probes are one deployment's).
 */
export function probeBoundViolations(probes: readonly number[], from: number, to: number, b: ProbeBound, windowMs = 1000): string[] {
  const sorted = [...probes].sort((x, y) => x - y);
  const out: string[] = [];
  const perWindow = allowedInWindow(b, windowMs);
  for (let i = 0; i < sorted.length; i++) {
    const inWindow = sorted.filter((t) => t >= sorted[i]! && t < sorted[i]! + windowMs).length;
    if (inWindow > perWindow) out.push(`${inWindow} probes within ${windowMs} ms from +${Math.round(sorted[i]! - from)} ms (one schedule allows ${perWindow})`);
  }
  // From the first moment every instance routes away, the first probe may come at once.
  const total = allowedInWindow(b, to - from);
  if (sorted.length > total) out.push(`${sorted.length} probes in ${Math.round(to - from)} ms (one schedule allows ${total})`);
  return out;
}
