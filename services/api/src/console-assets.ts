import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative } from 'node:path';

/**
 * The operator console (/console/) and the API reference (/docs/): static files, read once at start-up and
 * served from memory without authentication (every API request the console makes carries the key).
 *
 * Cache busting without a bundler: the pages are served with `no-cache` and name their assets under
 * `assets/<build>/`, where <build> is a hash of every asset; assets are immutable under that path, and
 * the relative imports between the console's modules stay inside it. A strict CSP allows only this origin's
 * scripts and styles: no inline script, no eval, no framing, no third-party anything.
 */
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
};

const BASE_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
};
export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/** Swagger UI sets style attributes from its scripts; its page allows inline styles (never inline scripts). */
export const DOCS_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

interface Asset {
  body: Buffer;
  type: string;
}

function filesUnder(dir: string, keep: (file: string) => boolean): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...filesUnder(path, keep));
    else if (keep(path)) out.push(path);
  }
  return out;
}

export interface ConsoleAssets {
  readonly build: string;
  /** Answers GET/HEAD of /console… and /docs…; false for every other request. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
}

export function loadConsoleAssets(openApiJson: () => string): ConsoleAssets {
  const require = createRequire(import.meta.url);
  const consoleRoot = dirname(require.resolve('@rrpc/console/package.json'));
  const swaggerRoot = dirname(require.resolve('swagger-ui-dist/package.json', { paths: [consoleRoot] }));
  const assets = new Map<string, Asset>();
  const add = (name: string, path: string) =>
    assets.set(name, { body: readFileSync(path), type: TYPES[extname(path)] ?? 'application/octet-stream' });
  const dist = join(consoleRoot, 'dist');
  for (const file of filesUnder(dist, (f) => f.endsWith('.js'))) add(relative(dist, file).split('\\').join('/'), file);
  add('console.css', join(consoleRoot, 'static', 'console.css'));
  add('docs.css', join(consoleRoot, 'static', 'docs.css'));
  add('swagger-ui.css', join(swaggerRoot, 'swagger-ui.css'));
  add('swagger-ui-bundle.js', join(swaggerRoot, 'swagger-ui-bundle.js'));
  const hash = createHash('sha256');
  for (const [name, asset] of [...assets].sort(([a], [b]) => a.localeCompare(b))) hash.update(name).update(asset.body);
  const build = hash.digest('hex').slice(0, 12);
  const page = (file: string) => Buffer.from(readFileSync(join(consoleRoot, 'static', file), 'utf8').replaceAll('__BUILD__', build));
  const pages = { console: page('index.html'), docs: page('docs.html') };
  let openApi: Buffer | undefined;

  const send = (req: IncomingMessage, res: ServerResponse, status: number, type: string, body: Buffer, headers: Record<string, string>) => {
    res.writeHead(status, { ...BASE_HEADERS, 'Content-Type': type, 'Content-Length': String(body.length), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return {
    build,
    handle(req, res) {
      const url = req.url ?? '/';
      const path = url.split('?', 1)[0] ?? '/';
      const area =
        path === '/console' || path.startsWith('/console/')
          ? 'console'
          : path === '/docs' || path.startsWith('/docs/')
            ? 'docs'
            : undefined;
      if (area === undefined) return false;
      const csp = { 'Content-Security-Policy': area === 'console' ? CONSOLE_CSP : DOCS_CSP };
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        send(req, res, 405, TYPES['.json']!, Buffer.from(JSON.stringify({ error: { code: 'METHOD_NOT_ALLOWED', message: 'Use GET.' } })), {
          Allow: 'GET, HEAD',
        });
        return true;
      }
      if (path === `/${area}`) {
        res.writeHead(301, { ...BASE_HEADERS, Location: `/${area}/` });
        res.end();
        return true;
      }
      const rest = path.slice(area.length + 2);
      if (rest === '' || rest === 'index.html') {
        send(req, res, 200, TYPES['.html']!, pages[area], { ...csp, 'Cache-Control': 'no-cache' });
        return true;
      }
      if (area === 'docs' && rest === 'openapi.json') {
        openApi ??= Buffer.from(openApiJson());
        send(req, res, 200, TYPES['.json']!, openApi, { ...csp, 'Cache-Control': 'no-cache' });
        return true;
      }
      const match = /^assets\/([0-9a-f]{12})\/([A-Za-z0-9_./-]+)$/.exec(rest);
      const asset = match && match[1] === build && !match[2]!.includes('..') ? assets.get(match[2]!) : undefined;
      if (!asset) {
        send(
          req,
          res,
          404,
          TYPES['.json']!,
          Buffer.from(
            JSON.stringify({ error: { code: 'NOT_FOUND', message: 'No such file (reload the page: the console was updated).' } }),
          ),
          { ...csp, 'Cache-Control': 'no-cache' },
        );
        return true;
      }
      send(req, res, 200, asset.type, asset.body, { ...csp, 'Cache-Control': 'public, max-age=31536000, immutable' });
      return true;
    },
  };
}
