/**
 * The demo's Idem: `idem serve --data-dir D` on loopback as a child process, through the one
 * process helper the integration tests use too (src/cli/idemProcess.ts). It is killed only by
 * its own pid, and restarted on the same data folder.
 */
import { IdemProcess } from '../idemProcess.js';

/** Starts Idem on `dataDir` with exactly `env` (besides PATH and HOME); keeps the latest output for errors. */
export function startIdemChild(bin: string, dataDir: string, env: Record<string, string>): Promise<IdemProcess> {
  // A first start migrates a new data folder: on a busy machine that takes more than the default 30 s.
  // The demo reads Idem's own counters from `/metrics` on the API port of its local children.
  return IdemProcess.start({ bin, env: { IDEM_METRICS_PORT: 'api', ...env }, args: ['--host', '127.0.0.1', '--data-dir', dataDir], maxOutputChars: 32_000, startTimeoutMs: 120_000 });
}
