import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pinnedPost } from './pinned-post.js';

/** The connection goes to the checked addresses only: DNS is never asked again (the name below exists nowhere). */
let server: Server;
let port = 0;
const seen: Array<{ host: string | undefined; remote: string | undefined; body: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ host: req.headers.host, remote: req.socket.remoteAddress, body });
      res.statusCode = req.url === '/moved' ? 302 : 202;
      if (req.url === '/moved') res.setHeader('location', `http://127.0.0.1:${port}/elsewhere`);
      res.end('ignored');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  port = typeof a === 'object' && a ? a.port : 0;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('pinnedPost', () => {
  it('connects to the checked address of a name no resolver knows, sending the name as Host', async () => {
    const target = {
      url: new URL(`http://pinned.invalid:${port}/hook?x=1`),
      host: 'pinned.invalid',
      addresses: [{ address: '127.0.0.1', family: 4 as const }],
    };
    expect(await pinnedPost(target, { 'content-type': 'application/json' }, '{"a":1}', 5000)).toBe(202);
    expect(seen.at(-1)).toEqual({ host: `pinned.invalid:${port}`, remote: '127.0.0.1', body: '{"a":1}' });
  });

  it('answers a redirect with its status and does not follow it', async () => {
    const before = seen.length;
    const target = {
      url: new URL(`http://pinned.invalid:${port}/moved`),
      host: 'pinned.invalid',
      addresses: [{ address: '127.0.0.1', family: 4 as const }],
    };
    expect(await pinnedPost(target, {}, '{}', 5000)).toBe(302);
    expect(seen.length - before).toBe(1);
  });

  it('fails when no checked address can be used (it never falls back to DNS)', async () => {
    const target = { url: new URL(`http://localhost:${port}/hook`), host: 'localhost', addresses: [] };
    await expect(pinnedPost(target, {}, '{}', 5000)).rejects.toThrow();
  });
});
