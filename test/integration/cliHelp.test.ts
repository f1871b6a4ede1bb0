import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { allCommands, commandPath, COMMAND_ENV, settingsOf } from '../../src/cli/envHelp.js';
import { program } from '../../src/cli/main.js';
import { ENV_SETTINGS } from '../../src/config/env.js';
import { IDEM_BIN } from '../support/idemServer.js';

const run = promisify(execFile);

/** The built `idem` with nothing but PATH and HOME, so the runner's settings cannot show up in the help. */
async function idem(args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [IDEM_BIN, ...args], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' }, timeout: 60_000 });
  return stdout;
}

/** The variable names listed under "Environment:", in order. */
function environmentSection(help: string): string[] {
  const section = /\nEnvironment:\n((?: {2}.*\n)+)/.exec(help);
  if (!section) return [];
  return section[1]!.split('\n').filter((l) => l !== '').map((l) => l.trim().split(/\s+/)[0]!);
}

/** Every command of the program itself, so a command added tomorrow is covered without a change here. */
/**
 * `idem <path> --help` run by the program itself in this process (a node start-up per command
 * costs seconds on a busy machine); the built binary is checked on a few below.
 */
function helpOf(path: string): string {
  let out = '';
  for (const c of [program, ...allCommands(program)]) {
    c.exitOverride();
    c.configureOutput({ writeOut: (t) => void (out += t), writeErr: (t) => void (out += t) });
  }
  try {
    program.parse([...path.split(' '), '--help'], { from: 'user' });
  } catch (err) {
    if ((err as { code?: string }).code !== 'commander.helpDisplayed') throw err;
  }
  return out;
}

const tree = new Map(allCommands(program).map((c) => [commandPath(c), c]));
const commands = [...tree.keys()];

describe('idem --help and --version', () => {
  it('knows the commands this test expects at least (the enumeration is not empty)', () => {
    expect(commands).toEqual(expect.arrayContaining(['serve', 'migrate', 'payments list', 'payments get', 'events tail', 'ledger verify', 'reconcile', 'merchant keys rotate']));
  });

  it('idem --version prints the version in package.json', { timeout: 120_000 }, async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((await idem(['--version'])).trim()).toBe(version);
  });

  it('every variable of the table is documented: README "Configuration", or docs/events.md for the event settings', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const events = readFileSync(new URL('../../docs/events.md', import.meta.url), 'utf8');
    for (const s of ENV_SETTINGS) expect(readme.includes(`\`${s.name}\``) || events.includes(`| \`${s.name}\` |`), s.name).toBe(true);
  });

  // Node start-ups: seconds each on a busy machine, hence the timeouts.
  it('the built binary prints the same help as the program', { timeout: 180_000 }, async () => {
    const paths = ['serve', 'merchant keys rotate', 'events tail'];
    const printed = await Promise.all(paths.map((path) => idem([...path.split(' '), '--help'])));
    for (const [i, path] of paths.entries()) expect(printed[i], path).toBe(helpOf(path));
  });

  it("every command's --help lists the environment variables it reads, from the one table, with an example", () => {
    const helps = new Map(commands.map((path) => [path, helpOf(path)]));
    for (const path of commands) {
      const help = helps.get(path)!;
      expect(help, path).toMatch(new RegExp(`^Usage: idem ${path} `));
      const env = COMMAND_ENV[path];
      if (env === undefined) {
        // Only a command that groups others may go without its own list, and it must point at theirs.
        expect(tree.get(path)!.commands.length, path).toBeGreaterThan(0);
        expect(help, `${path} has neither an entry in COMMAND_ENV (src/cli/envHelp.ts) nor subcommands`).toContain("Environment: each subcommand's --help lists what it reads");
        continue;
      }
      const want = settingsOf(env);
      if (want.length === 0) expect(help, path).toContain('Environment:\n  none: configured by its options only');
      else expect(environmentSection(help), path).toEqual(want.map((s) => s.name));
      for (const s of want) expect(help, path).toContain(`e.g. ${s.example}`);
      expect(help, path).toContain(`Example:\n  ${env.example}\n`);
      expect(env.example, path).toMatch(new RegExp(`(^|\\s)idem ${path}( |$)`));
    }
    // No entry for a command that does not exist.
    for (const path of Object.keys(COMMAND_ENV)) expect(commands, `COMMAND_ENV names "${path}"`).toContain(path);
    // serve reads every setting loadConfig reads (src/config/config.test.ts ties the table to it).
    const serve = environmentSection(helps.get('serve')!);
    expect(serve).toContain('REDIS_URL');
    expect(serve).toEqual(ENV_SETTINGS.filter((s) => s.group !== 'client').map((s) => s.name));
    // The commands that talk to an instance say how they find it, the same way.
    for (const path of ['gateways', 'payments list', 'payments get', 'events tail']) {
      expect(helps.get(path), path).toMatch(/--url <url> .*\n?.*env:\s+IDEM_URL/);
      expect(helps.get(path), path).toMatch(/--api-key <key> .*env: IDEM_API_KEY/);
    }
  });
});
