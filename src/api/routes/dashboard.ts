import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { IdemError } from '../../errors/registry.js';

/**
 * `/dashboard`: the bundle `npm run build` writes to `dist/dashboard/` (docs/dashboard.md),
 * served as static files, gzip when the browser takes it. No route here needs a key: the page
 * asks for one and sends it on each API call in `Authorization`. The page may load nothing but
 * its own files and talk to nothing but this origin (Content-Security-Policy), and the browser
 * sends no Referer with its requests.
 */

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  type: string;
  body: Buffer;
  gzip: Buffer;
}

/** Where the bundle is: beside the compiled server (`dist/api/routes` → `dist/dashboard`), or `dist/dashboard` when run from `src/`. */
function defaultDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const beside = join(here, '..', '..', 'dashboard');
  return existsSync(join(beside, 'index.html')) ? beside : join(here, '..', '..', '..', 'dist', 'dashboard');
}

function loadAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  if (!existsSync(join(dir, 'index.html'))) return assets;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(join(dir, name));
    assets.set(name, { type, body, gzip: gzipSync(body, { level: 9 }) });
  }
  return assets;
}

export function registerDashboard(app: FastifyInstance, dir = defaultDir()): void {
  const assets = loadAssets(dir);
  const send = (request: FastifyRequest, reply: FastifyReply, name: string) => {
    const asset = assets.get(name);
    if (!asset) {
      if (assets.size === 0) throw new IdemError('UNAVAILABLE', 'the dashboard is not built: run `npm run build`');
      throw new IdemError('ROUTE_NOT_FOUND', `no dashboard file ${name.slice(0, 80)}`);
    }
    const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    reply
      .type(asset.type)
      .header('content-security-policy', CSP)
      .header('referrer-policy', 'no-referrer')
      .header('vary', 'accept-encoding');
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(gzip ? asset.gzip : asset.body);
  };
  const hidden = { schema: { hide: true } };
  app.get('/dashboard', hidden, async (request, reply) => send(request, reply, 'index.html'));
  app.get('/dashboard/', hidden, async (request, reply) => send(request, reply, 'index.html'));
  app.get<{ Params: { file: string } }>('/dashboard/:file', hidden, async (request, reply) => send(request, reply, request.params.file));
}
