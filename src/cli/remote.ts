import { Option, type Command } from 'commander';
import { connectApi, type IdemApi } from './api.js';

/** The flags of every command that talks to a running instance. */
export interface RemoteFlags {
  url: string;
  apiKey?: string;
}

/**
 * Adds `--url` (env `IDEM_URL`) and `--api-key` (env `IDEM_API_KEY`) to a command. Commander
 * reads the variables when the command runs, so `--help` never prints a key.
 */
export function remoteOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--url <url>', 'the instance').env('IDEM_URL').default('http://127.0.0.1:8080'))
    .addOption(new Option('--api-key <key>', 'an API key of the merchant').env('IDEM_API_KEY'));
}

/** The client for the flags' instance; stops with one line when no key was given. */
export function remoteApi(flags: RemoteFlags, fail: (err: Error) => never): IdemApi {
  if (!flags.apiKey) fail(new Error('--api-key (or IDEM_API_KEY) is required'));
  return connectApi({ baseUrl: flags.url, apiKey: flags.apiKey });
}
