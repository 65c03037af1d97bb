import { RrpcClient } from '@rrpc/client';
import type { Io } from './io.js';

export const DEFAULT_URL = 'http://127.0.0.1:8080';

/** The options every command takes to reach the API (parseArgs shape). */
export const connectionOptions = {
  url: { type: 'string' },
  'api-key': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const CONNECTION_HELP = `Connection:
  --url <url>        the RRPC API (env RRPC_URL; default ${DEFAULT_URL})
  --api-key <key>    an API key of the cluster (env RRPC_API_KEY)
  -h, --help         show this help`;

export function clientFrom(values: { url?: string | undefined; 'api-key'?: string | undefined }, io: Io): RrpcClient {
  const baseUrl = values.url ?? io.env['RRPC_URL'] ?? DEFAULT_URL;
  const apiKey = values['api-key'] ?? io.env['RRPC_API_KEY'];
  return new RrpcClient({ baseUrl, apiKey: apiKey === '' ? undefined : apiKey });
}
