/**
 * `idem demo` through the built CLI, as a user runs it: two faulty simulated gateways, traffic
 * with duplicates and retries, a real `kill -9` of the Idem child and a restart, then the proof
 * read from the gateways' own logs and the ledger. Run `npm run build` first.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IDEM_BIN } from '../support/idemServer.js';

const PAYMENTS = 60;
const dataDir = mkdtempSync(join(tmpdir(), 'idem-demo-test-'));

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

function runDemo(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    // No DATABASE_URL / REDIS_URL from the runner's shell: the demo is embedded by definition.
    const child = spawn(process.execPath, [IDEM_BIN, 'demo', ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir() },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGINT'); // the demo stops its own Idem child on SIGINT
      reject(new Error(`idem demo did not finish within 100 s:\n${output}`));
    }, 100_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('idem demo', () => {
  it(`drives ${PAYMENTS} checkouts through faults, duplicates and a kill -9, and proves nothing ran twice`, async () => {
    const { code, output } = await runDemo(['--payments', String(PAYMENTS), '--seed', '7', '--data-dir', dataDir]);
    expect(code, output).toBe(0);

    // The proof lines, with the values that make them a proof.
    expect(output).toMatch(/^ {2}double executions found in the gateways' own logs: 0$/m);
    expect(output).toMatch(/^ {2}ledger balanced: yes\b/m);
    expect(output).toMatch(/^ {2}payments not final: 0$/m);

    // The crash was real and Idem came back on the same folder.
    const killed = /crash: SIGKILL to Idem \(pid (\d+)\)/.exec(output);
    expect(killed, output).not.toBeNull();
    const restarted = /restart: Idem is back \(pid (\d+)\)/.exec(output);
    expect(restarted, output).not.toBeNull();
    expect(restarted![1]).not.toBe(killed![1]);

    // Every checkout ends as exactly one payment, listed by final state.
    const summary = output.slice(output.indexOf('payments by final state'));
    const byState = Object.fromEntries([...summary.matchAll(/^ {4}([a-z_]+) +(\d+)$/gm)].map((m) => [m[1]!, Number(m[2])]));
    expect(Object.values(byState).reduce((a, b) => a + b, 0), output).toBe(PAYMENTS);
    for (const state of Object.keys(byState)) {
      expect(['authorized', 'captured', 'partially_captured', 'declined', 'failed', 'voided', 'refunded', 'partially_refunded']).toContain(state);
    }
    expect(output).toContain(`${PAYMENTS} payments in Idem (one per checkout)`);
    expect(output).toMatch(/held duplicates +\d+/);
    expect(output).toMatch(/replays +[1-9]\d*/);
    expect(output).toContain(`idem ledger verify --data-dir ${dataDir}`);

    // Nothing left running: the restarted Idem was stopped by the demo.
    expect(() => process.kill(Number(restarted![1]), 0)).toThrow();
  }, 120_000);

  it('refuses a data folder that is not empty, before starting anything', async () => {
    const used = mkdtempSync(join(tmpdir(), 'idem-demo-used-'));
    writeFileSync(join(used, 'PG_VERSION'), '17\n');
    const { code, output } = await runDemo(['--payments', '5', '--data-dir', used]).finally(() => rmSync(used, { recursive: true, force: true }));
    expect(code).toBe(2);
    expect(output).toContain('is not empty');
  });
});
