// The suites of `npm test`, after the build (docs/testing.md, "Suites"): the main suite, with the
// idle test beside it in a process of its own, then the simulation suite. The idle test is two
// minutes of an instance left alone — its CPU time and transactions are its own, so other tests
// beside it do not move them — and in the main suite it would hold one of the two workers for
// those minutes. Its output is held and printed after the main suite's, so the two do not
// interleave. Exits with the main suite's code if it failed, else the idle test's; the
// simulation suite runs only after both passed.
import { spawn } from 'node:child_process';

const vitest = (args, stdio) => spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', ...args], { stdio, env: process.env });

function exited(child) {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

const idle = vitest(['--config', 'vitest.idle.config.ts'], ['ignore', 'pipe', 'pipe']);
const held = [];
idle.stdout.on('data', (chunk) => held.push(chunk));
idle.stderr.on('data', (chunk) => held.push(chunk));
const idleDone = exited(idle);

const main = await exited(vitest([], 'inherit'));
const idleCode = await idleDone;
process.stdout.write('\n── the idle test (ran beside the main suite) ──\n');
process.stdout.write(Buffer.concat(held));
if (main !== 0) process.exit(main);
if (idleCode !== 0) process.exit(idleCode);

process.exit(await exited(vitest(['--config', 'vitest.sim.config.ts'], 'inherit')));
