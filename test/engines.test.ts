/**
 * `engines` says honestly which Node Idem runs on (package.json, README): no package that
 * `npm ci` installs declares an engine that leaves out the oldest Node the project claims. A
 * newer major of a dependency that needs a newer Node is pinned to its last line that does not
 * (CHANGELOG, "Changed"), or the claim goes up.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const read = (file: string) => JSON.parse(readFileSync(join(ROOT, file), 'utf8'));

describe('engines', () => {
  it('no installed package needs a newer Node than the oldest package.json claims', () => {
    const claimed: string = read('package.json').engines.node;
    const oldest = semver.minVersion(claimed)!.version;
    const packages: Record<string, { version?: string; engines?: { node?: string } | string[] }> = read('package-lock.json').packages;
    const excluding = Object.entries(packages)
      .filter(([path, p]) => path !== '' && !Array.isArray(p.engines) && p.engines?.node !== undefined && !semver.satisfies(oldest, p.engines.node))
      .map(([path, p]) => `${path.replace(/^node_modules\//, '')}@${p.version}: node ${(p.engines as { node: string }).node}`);
    expect(excluding, `packages whose engines leave out Node ${oldest} (package.json claims ${claimed})`).toEqual([]);
  });
});
