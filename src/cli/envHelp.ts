import type { Command } from 'commander';
import { ENV_SETTINGS, type EnvGroup, type EnvSetting } from '../config/env.js';

/** What one command reads from the environment, by group of the table in src/config/env.ts. */
export interface CommandEnv {
  groups: readonly EnvGroup[];
  /** Single settings of other groups the command also uses. */
  also?: readonly string[];
  /** One command line someone would type. */
  example: string;
}

const dbOnly = (example: string): CommandEnv => ({ groups: ['database'], example });

/**
 * The environment of every command that runs something, by its path. A command missing here
 * gets no help section, and test/integration/cliHelp.test.ts fails on it.
 */
export const COMMAND_ENV: Readonly<Record<string, CommandEnv>> = {
  serve: { groups: ['database', 'gateways', 'server'], example: 'DATABASE_URL=postgres://idem@db.internal:5432/idem REDIS_URL=redis://cache.internal:6379 HOST=0.0.0.0 idem serve' },
  migrate: dbOnly('DATABASE_URL=postgres://idem@db.internal:5432/idem idem migrate'),
  'merchant create': dbOnly('idem merchant create "Acme Ltd" --data-dir ./.idem'),
  'merchant keys list': dbOnly('DATABASE_URL=postgres://idem@db.internal:5432/idem idem merchant keys list mer_…'),
  'merchant keys create': dbOnly('idem merchant keys create mer_… --data-dir ./.idem'),
  'merchant keys revoke': dbOnly('idem merchant keys revoke mer_… sk_abc123'),
  'merchant keys rotate': dbOnly('idem merchant keys rotate mer_… sk_abc123'),
  'ledger verify': { groups: ['database', 'gateways'], example: 'IDEM_GATEWAYS=./gateways.json idem ledger verify --data-dir ./.idem' },
  reconcile: { groups: ['database', 'gateways'], also: ['IDEM_LEASE_MS', 'IDEM_SETTLEMENT_WINDOW_MS'], example: 'IDEM_GATEWAYS=./gateways.json idem reconcile --gateway sim-a' },
  'reconcile report': dbOnly('idem reconcile report --gateway sim-a --format json'),
  'reconcile cases': dbOnly('DATABASE_URL=postgres://idem@db.internal:5432/idem idem reconcile cases --status open'),
  'reconcile resolve': { groups: ['database', 'gateways'], also: ['IDEM_LEASE_MS', 'IDEM_SETTLEMENT_WINDOW_MS'], example: 'idem reconcile resolve case_… --resolution "refunded by hand"' },
  gateways: { groups: ['client'], example: 'IDEM_API_KEY=sk_… idem gateways --url http://127.0.0.1:8080' },
  'payments list': { groups: ['client'], example: 'IDEM_URL=http://127.0.0.1:8080 IDEM_API_KEY=sk_… idem payments list --limit 5' },
  'payments get': { groups: ['client'], example: 'IDEM_API_KEY=sk_… idem payments get pay_… --json' },
  'events tail': { groups: ['client'], example: 'IDEM_API_KEY=sk_… idem events tail --type payment.captured,payment.refunded' },
  'gateway-sim': { groups: [], example: 'idem gateway-sim --port 4010 --faults faults.json' },
  demo: { groups: [], example: 'idem demo --payments 100 --seed 7' },
};

/** The full path of a command below the program, e.g. `merchant keys list`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command below `program`, depth first (what the help test runs). */
export function allCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** The settings a command reads, in table order. */
export function settingsOf(env: CommandEnv): EnvSetting[] {
  const also = new Set(env.also ?? []);
  return ENV_SETTINGS.filter((s) => env.groups.includes(s.group) || also.has(s.name));
}

/** The "Environment:" and "Example:" sections of one command's help. */
export function environmentHelp(env: CommandEnv): string {
  const settings = settingsOf(env);
  const width = Math.max(0, ...settings.map((s) => s.name.length));
  const lines = settings.length === 0 ? ['  none: configured by its options only'] : settings.map((s) => `  ${s.name.padEnd(width)}  ${s.about}; e.g. ${s.example}`);
  return `\nEnvironment:\n${lines.join('\n')}\n\nExample:\n  ${env.example}\n`;
}

/**
 * Adds the environment section to every command's `--help`: a command of `COMMAND_ENV` lists
 * its settings; one that only groups subcommands points at theirs.
 */
export function describeEnvironment(program: Command): void {
  program.addHelpText('after', `\nEach command's --help lists the environment variables it reads (all of them: README, "Configuration").\n`);
  for (const cmd of allCommands(program)) {
    const env = COMMAND_ENV[commandPath(cmd)];
    if (env !== undefined) cmd.addHelpText('after', environmentHelp(env));
    else if (cmd.commands.length > 0) cmd.addHelpText('after', `\nEnvironment: each subcommand's --help lists what it reads (idem ${commandPath(cmd)} <command> --help).\n`);
  }
}
