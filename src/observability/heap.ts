/**
 * `GET /debug/heap` (IDEM_DEBUG_HEAP=1, off by default): the heap after a forced full
 * collection, so a soak run (bench/soak.ts) tells memory kept from garbage not yet collected.
 * A forced GC stops the process for tens of milliseconds: never switch it on where clients
 * can reach it.
 */
import { getHeapStatistics } from 'node:v8';

/** What `GET /debug/heap` answers; sizes in bytes. */
export interface HeapReport {
  /** False when the process runs without `--expose-gc`: the figures then include garbage. */
  gc: boolean;
  heapUsed: number;
  heapTotal: number;
  heapLimit: number;
  external: number;
  rss: number;
  /** Whatever the caller adds (the in-process simulators' held entries, keys, authorizations). */
  detail: Record<string, unknown>;
}

/** Forces a full GC when `--expose-gc` allows it, then reads the heap. */
export function heapAfterGc(detail: Record<string, unknown> = {}): HeapReport {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === 'function') gc();
  const h = getHeapStatistics();
  const m = process.memoryUsage();
  return {
    gc: typeof gc === 'function',
    heapUsed: h.used_heap_size,
    heapTotal: h.total_heap_size,
    heapLimit: h.heap_size_limit,
    external: m.external,
    rss: m.rss,
    detail,
  };
}
