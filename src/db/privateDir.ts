import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../config/config.js';

/** The embedded data folder cannot be made private; Idem refuses to start (exit 2). */
export class DataDirError extends ConfigError {}

/**
 * Makes the embedded database folder private to this user: the folder (created if missing)
 * 0700, every folder in it 0700 and every file without group or other access. PGlite writes
 * files with the process umask, and the database holds payment data and API-key hashes.
 * `deep: false` sees to the folder itself only (before PGlite opens it).
 * Throws `DataDirError` with a one-line message if any of it cannot be done (another owner,
 * a read-only mount), rather than run with data others can read.
 */
export function makeDataDirPrivate(dataDir: string, options: { deep?: boolean } = {}): void {
  const deep = options.deep ?? true;
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const pending = [dataDir];
    while (pending.length > 0) {
      const path = pending.pop()!;
      const st = lstatSync(path);
      if (st.isSymbolicLink()) continue;
      if (typeof process.getuid === 'function' && st.uid !== process.getuid()) {
        throw Object.assign(new Error(`${path} belongs to another user (uid ${st.uid})`), { code: 'EOWNER' });
      }
      if (st.isDirectory()) {
        if ((st.mode & 0o777) !== 0o700) chmodSync(path, 0o700);
        if (deep) for (const name of readdirSync(path)) pending.push(join(path, name));
      } else if ((st.mode & 0o077) !== 0) {
        chmodSync(path, st.mode & 0o700);
      }
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new DataDirError(`the data folder ${dataDir} cannot be made private to this user (${e.message}); fix its owner or permissions`);
  }
}

/** Runs `fn` with umask 077, so files and folders it creates are private; the umask is restored after. */
export async function withPrivateUmask<T>(fn: () => Promise<T>): Promise<T> {
  const previous = process.umask(0o077);
  try {
    return await fn();
  } finally {
    process.umask(previous);
  }
}
