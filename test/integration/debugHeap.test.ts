import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createIdem } from '../../src/idem.js';

/** `GET /debug/heap` (IDEM_DEBUG_HEAP=1, README "Configuration"), what bench/soak.ts samples. */
describe('GET /debug/heap', () => {
  it('is not served unless IDEM_DEBUG_HEAP=1', async () => {
    const idem = await createIdem(loadConfig({ IDEM_DATA_DIR: 'memory://', PORT: '0' }), { relay: false, sweeper: false, logger: false });
    try {
      const api = await idem.listen();
      expect((await fetch(`${api}/debug/heap`)).status).toBe(404);
    } finally {
      await idem.close();
    }
  });

  it('answers the heap, RSS and what each simulated gateway holds, beside /metrics on its own port', async () => {
    const idem = await createIdem(loadConfig({ IDEM_DATA_DIR: 'memory://', PORT: '0', IDEM_METRICS_PORT: '0', IDEM_DEBUG_HEAP: '1' }), { relay: false, sweeper: false, logger: false });
    try {
      const api = await idem.listen();
      expect((await fetch(`${api}/debug/heap`)).status).toBe(404);
      const res = await fetch(`${idem.metricsUrl}/debug/heap`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as Record<string, unknown>;
      // vitest runs without --expose-gc: the answer says the figures include garbage.
      expect(body).toMatchObject({ gc: typeof (globalThis as { gc?: unknown }).gc === 'function', heapUsed: expect.any(Number), rss: expect.any(Number) });
      expect(body.detail).toEqual({ simulators: { 'sim-a': { entries: 0, keys: 0, authorizations: 0, dropped: 0 }, 'sim-b': { entries: 0, keys: 0, authorizations: 0, dropped: 0 } } });
    } finally {
      await idem.close();
    }
  });
});
