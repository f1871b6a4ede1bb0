import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * `idem/client` as a user's code imports it (docs/client.md): through the package's `exports`,
 * from the built `dist/client/` (run `npm run build` first), with its types beside it, and with
 * no import that leaves the folder (what a browser bundler would have to follow).
 */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

describe('idem/client, the package export', () => {
  it('imports by name from a process of its own and builds a client', async () => {
    const script = "import('idem/client').then((m) => { const c = new m.IdemClient({ baseUrl: 'http://127.0.0.1:1', apiKey: 'sk_x' }); console.log(JSON.stringify({ create: typeof c.payments.create, key: m.uuidv7(Date.now(), Math.random).length })); })";
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT }, (err, stdout, stderr) => (err ? reject(new Error(stderr || String(err))) : resolve(stdout))),
    );
    expect(JSON.parse(out)).toEqual({ create: 'function', key: 36 });
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, { types: string; default: string }> };
    expect(readFileSync(join(ROOT, pkg.exports['./client']!.types), 'utf8')).toContain('IdemClient');
  });

  it('imports nothing outside dist/client/', () => {
    const dir = join(ROOT, 'dist', 'client');
    const files = readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const specifiers = [...readFileSync(join(dir, f), 'utf8').matchAll(/\b(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((m) => m[1]!);
      for (const s of specifiers) expect(s, `${f} imports ${s}`).toMatch(/^\.\.?\//);
      for (const s of specifiers) expect(join(dirname(join(dir, f)), s).startsWith(dir), `${f} imports ${s}`).toBe(true);
    }
  });
});
