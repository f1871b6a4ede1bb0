/**
 * The README's shell blocks, run as a reader of a fresh clone would: in a copy of the files git
 * tracks (no dist/, no .idem/), with this checkout's node_modules linked in (as `npm ci` would
 * install them), one command line after another, blocks in order. Each ```sh block is marked by
 * the HTML comment before it (`MARK`: `<!-- readme-test: run -->`, `… run with PostgreSQL and
 * Redis`, `… skip <reason>`); an unmarked block fails. A server (`npm start`, `… serve`, a line
 * ending in `&`) is started, awaited until it says it listens, and stopped by the pid of its
 * process group at the end of its block (`; its server stays up for …`: at the end of the block
 * marked `; then stops …`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/redisServer.js';
import { createTestDatabase, postgresAvailable, redisAvailable, REDIS_URL } from '../support/services.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);
const COMMAND_TIMEOUT_MS = 300_000;

/** Commands not run, each with why. */
const SKIPPED: Record<string, string> = {
  'npm ci': "node_modules is this checkout's, linked in; npm ci would replace it and needs the network. Its prepare step, npm run build, is stood in for by the checkout's own build (npm test builds first), copied; without one, it is run",
  'npm test': 'this test is part of npm test: running it here would run itself again, without end',
};

/** A command run with more arguments than the README gives, each with why. */
const SMALLER: Record<string, string> = {
  'npm run idem -- demo': 'npm run idem -- demo --payments 40 --seed 7', // the same demo on fewer checkouts, for time
};

/** What a command must print besides exiting 0 (the rest only has to succeed). */
const EXPECTED: Array<[RegExp, RegExp]> = [
  [/^curl .*\/v1\/payments/, /"status":"authorized"/],
  [/payments list/, /pay_\w+\s+authorized\s+1999 EUR/],
  [/events tail --count 3/, /^(\d\d:\d\d:\d\d\.\d{3}\s+\S+.*\n){3}$/m],
  [/demo/, /payments not final: 0/],
  [/merchant create/, /api key sk_/],
  [/ledger verify/, /ledger verified: balanced and matching/],
  [/reconcile/, /no open cases/],
  [/gateways --url/, /policy: adaptive/],
];

/** The marks a block may carry. */
const MARK = /^(run( with PostgreSQL and Redis)?(; its server stays up for .+|; then stops the Quick start's server)?|skip .+)$/;

interface Block {
  mark: string;
  commands: string[];
}

/** The README's ```sh blocks with the mark before each, as logical command lines. */
function readmeBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const re = /(?:<!-- readme-test: ([^>]*?) -->\n)?```sh\n([\s\S]*?)```/g;
  for (const m of text.matchAll(re)) blocks.push({ mark: m[1] ?? '', commands: commandLines(m[2]!) });
  return blocks;
}

/** Joins `\` continuations and quotes across lines, drops comments, splits `a && b`. */
function commandLines(body: string): string[] {
  const out: string[] = [];
  let pending = '';
  let continued = false;
  for (const raw of body.split('\n')) {
    pending += (pending === '' || continued ? '' : '\n') + raw;
    continued = pending.endsWith('\\');
    if (continued) {
      pending = pending.slice(0, -1);
      continue;
    }
    // A quote still open (outside a comment, where an apostrophe is prose) goes on on the next line.
    if ((withoutComment(pending).match(/'/g) ?? []).length % 2 === 1) continue;
    const line = withoutComment(pending).trim();
    pending = '';
    if (line !== '') out.push(...line.split(' && ').map((c) => c.trim()));
  }
  return out;
}

function withoutComment(line: string): string {
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote !== null) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

const blocks = readmeBlocks(readFileSync(join(ROOT, 'README.md'), 'utf8'));

describe('the README, run from a fresh checkout layout', () => {
  let dir: string;
  /** Values the README leaves for the reader: its ports, keys and ids, the production URLs. */
  const fill = new Map<string | RegExp, string>();
  /** Nothing of the runner's environment: a DATABASE_URL of its shell must not leak in. */
  let baseEnv: Record<string, string>;
  /** Each block is a new shell: what it exports lasts until its end. */
  let env: Record<string, string>;
  const servers: Array<{ child: ChildProcess; exited: Promise<void>; command: string; block: number }> = [];
  let currentBlock = -1;
  /** Whether `npm run build` ran in place of `npm ci` already. */
  let built = false;
  /** What `npm ci`'s prepare step leaves: the checkout's build, copied (it is what npm test built a minute ago), else built here. */
  const build = async () => {
    const outputs = ['dist', join('src', 'client', 'generated')];
    if (outputs.every((o) => existsSync(join(ROOT, o)))) {
      for (const o of outputs) cpSync(join(ROOT, o), join(dir, o), { recursive: true });
    } else {
      await runCommand('npm run build');
    }
  };
  const cleanups: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'idem-readme-'));
    const { stdout } = await run('git', ['ls-files', '-z'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    for (const file of stdout.split('\0').filter((f) => f !== '')) {
      mkdirSync(dirname(join(dir, file)), { recursive: true });
      cpSync(join(ROOT, file), join(dir, file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'faults.json'), '{"timeoutAfterProcessingRate":0.1}\n');
    // The README's ports may be taken on a shared machine: each moves to a free one, in every
    // command, and PORT (which npm start reads, README "Configuration") says where 8080 went.
    const ports = new Map<string, string>();
    for (const port of ['8080', '4010', '4011']) {
      ports.set(port, String(await freePort()));
      fill.set(new RegExp(`\\b${port}\\b`, 'g'), ports.get(port)!);
    }
    baseEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), PORT: ports.get('8080')! };
  }, 60_000);

  afterAll(async () => {
    await stopServers();
    for (const c of cleanups.reverse()) await c().catch(() => {});
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  /** Stops the servers `which` picks (default: all), last started first. */
  async function stopServers(which: (block: number) => boolean = () => true): Promise<void> {
    const stopping = servers.filter((s) => which(s.block));
    for (const s of stopping) servers.splice(servers.indexOf(s), 1);
    for (const s of stopping.reverse()) {
      // The whole process group the test started (npm, its shell, node), by its leader's pid.
      const kill = (signal: NodeJS.Signals) => {
        try {
          process.kill(-s.child.pid!, signal);
        } catch {
          // Already gone.
        }
      };
      kill('SIGTERM');
      const timer = setTimeout(() => kill('SIGKILL'), 15_000);
      await s.exited;
      clearTimeout(timer);
    }
  }

  function filled(command: string): string {
    let c = SMALLER[command] ?? command;
    for (const [from, to] of fill) c = typeof from === 'string' ? c.split(from).join(to) : c.replace(from, to);
    return c;
  }

  async function startServer(command: string): Promise<void> {
    const child = spawn('bash', ['-c', command.replace(/\s*&$/, '')], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    servers.push({ child, exited, command, block: currentBlock });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`"${command}" did not say it listens within ${COMMAND_TIMEOUT_MS} ms:\n${out}`)), COMMAND_TIMEOUT_MS);
      const seen = (chunk: Buffer) => {
        out += chunk.toString();
        if (!/listening on \S+/.test(out)) return;
        clearTimeout(timer);
        const key = /API key, shown once: (sk_\w+)/.exec(out)?.[1];
        if (key !== undefined) fill.set('sk_...', key);
        resolve();
      };
      child.stdout!.on('data', seen);
      child.stderr!.on('data', seen);
      void exited.then(() => reject(new Error(`"${command}" exited before it listened:\n${out}`)));
    });
  }

  async function runCommand(command: string): Promise<void> {
    process.stderr.write(`readme: ${command.split('\n')[0]}\n`);
    if (command.startsWith('export ')) {
      // Evaluated by the shell, as the reader's would, and kept for the next lines.
      const { stdout } = await run('bash', ['-c', `${command}\nenv -0`], { cwd: dir, env });
      env = Object.fromEntries(stdout.split('\0').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      return;
    }
    if (/&$/.test(command) || /^(npm start|[\s\S]*npm run idem -- serve)\b/.test(command)) return startServer(command);
    let result: { stdout: string; stderr: string };
    try {
      result = await run('bash', ['-c', command], { cwd: dir, env, timeout: COMMAND_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
    } catch (err) {
      const e = err as { code?: number; signal?: string; stdout?: string; stderr?: string };
      throw new Error(`"${command}" failed (exit ${e.code ?? e.signal}):\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
    }
    for (const [which, want] of EXPECTED) if (which.test(command)) expect(result.stdout, command).toMatch(want);
    const merchant = /merchant (mer_\w+)/.exec(result.stdout)?.[1];
    if (merchant !== undefined) fill.set('mer_…', merchant);
    const key = /api key (sk_\w+)/.exec(result.stdout)?.[1];
    if (key !== undefined) fill.set('sk_...', key);
  }

  it('marks every shell block, and finds the commands it must run', () => {
    for (const b of blocks) expect(b.mark, `a README sh block has no readme-test mark: ${b.commands[0]}`).toMatch(MARK);
    const all = blocks.flatMap((b) => b.commands);
    expect(all).toEqual(expect.arrayContaining(['npm start', 'npm test', 'npm run idem -- demo', 'npm run idem -- migrate', 'npm run idem -- ledger verify', 'npm run idem -- reconcile', 'npm run idem -- events tail --count 3']));
    expect(all.filter((c) => /\bnpx idem\b/.test(c)), 'npx idem works only inside a built checkout: write npm run idem --').toEqual([]);
  });

  for (const [i, block] of blocks.entries()) {
    const title = `block ${i + 1} (${block.mark}): ${block.commands.map((c) => SKIPPED[c] === undefined ? c.split('\n')[0] : `[skipped] ${c}`).join(' ; ').slice(0, 160)}`;
    if (block.mark.startsWith('skip ')) {
      it.skip(`${title} — ${block.mark.slice(5)}`, () => {});
      continue;
    }
    it(title, { timeout: 20 * 60_000 }, async () => {
      currentBlock = i;
      env = { ...baseEnv };
      if (block.mark === 'run with PostgreSQL and Redis') {
        if (!(await postgresAvailable()) || !(await redisAvailable())) return;
        const db = await createTestDatabase('idem_readme');
        cleanups.push(db.drop);
        fill.set('postgres://idem@db.internal:5432/idem', db.url);
        fill.set('redis://cache.internal:6379', REDIS_URL);
        // The reader's own gateways: here one simulator as an HTTP processor, started by the test.
        const gatewaySim = spawn(process.execPath, [join(ROOT, 'dist', 'cli', 'main.js'), 'gateway-sim', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
        const url = await new Promise<string>((resolve, reject) => {
          let out = '';
          gatewaySim.stdout!.on('data', (c: Buffer) => {
            out += c.toString();
            const m = /listening on (\S+)/.exec(out);
            if (m) resolve(m[1]!);
          });
          gatewaySim.once('exit', () => reject(new Error(`gateway-sim exited: ${out}`)));
        });
        cleanups.push(async () => {
          gatewaySim.kill('SIGTERM');
        });
        writeFileSync(join(dir, 'gateways.json'), JSON.stringify([{ name: 'acquirer', kind: 'http', base_url: url }]));
      }
      let passed = false;
      try {
        // Every block after the Quick start assumes its npm ci (here: npm run build) was done;
        // so does a block run alone (vitest -t).
        if (!built && !block.commands.includes('npm ci')) {
          await build();
          built = true;
        }
        for (const command of block.commands) {
          if (SKIPPED[command] !== undefined) {
            if (command === 'npm ci' && !built) await build();
            built = true;
            continue;
          }
          await runCommand(filled(command));
        }
        passed = true;
      } finally {
        // A block stops the servers it started, unless they stay up for a later one, which
        // stops them; a block that failed stops them all, so the next finds its ports free.
        if (block.mark.includes('; then stops') || !passed) await stopServers();
        else if (!block.mark.includes('stays up')) await stopServers((b) => b === i);
      }
    });
  }
});
