import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { CallbackTarget } from '@rrpc/jobs';

/**
 * POSTs to a checked callback target and connects only to its checked addresses: the request's `lookup`
 * answers with them instead of asking DNS again (so a rebinding name cannot swap in another address), TLS
 * still verifies the certificate against the host name, no connection is pooled, and a redirect is just an
 * answer (never followed). Resolves with the status code; the answer's body is read and dropped.
 */
export function pinnedPost(target: CallbackTarget, headers: Record<string, string>, body: string, timeoutMs: number): Promise<number> {
  const pinned: LookupFunction = (_hostname, options, callback) => {
    const wanted =
      options.family === 4 || options.family === 6 ? target.addresses.filter((a) => a.family === options.family) : target.addresses;
    const first = wanted[0];
    if (first === undefined) {
      callback(Object.assign(new Error(`no checked address of family ${options.family}`), { code: 'ENOTFOUND' }), '', 0);
      return;
    }
    if (options.all) (callback as unknown as (err: null, addresses: Array<{ address: string; family: number }>) => void)(null, wanted);
    else callback(null, first.address, first.family);
  };
  const url = target.url;
  const options: RequestOptions = {
    method: 'POST',
    host: target.host,
    port: url.port === '' ? undefined : Number(url.port),
    path: `${url.pathname}${url.search}`,
    headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
    lookup: pinned,
    agent: false,
    signal: AbortSignal.timeout(timeoutMs),
    maxHeaderSize: 16 * 1024,
  };
  return new Promise<number>((resolve, reject) => {
    const req = (url.protocol === 'https:' ? httpsRequest : httpRequest)(options, (res) => {
      res.on('error', reject);
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}
