/**
 * The few EMQX 5 REST API calls reconciliation needs (basic auth with an API key and its secret):
 * GET /api/v5/clients/{clientid} (404 CLIENTID_NOT_FOUND once the client is gone),
 * GET /api/v5/clients/{clientid}/subscriptions and GET /api/v5/clients?_page=&_limit= (paged).
 */
export interface EmqxClient {
  clientid: string;
  username: string | undefined;
  connected: boolean;
  /** ms; EMQX 5 answers an RFC 3339 string. */
  connectedAt: number | undefined;
  keepalive: number | undefined;
  cleanStart: boolean | undefined;
}

export interface EmqxApiOptions {
  url: string;
  key: string;
  secret: string;
  timeoutMs?: number;
}

const MAX_PAGE = 1000;

function time(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value !== 'string') return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

function client(body: unknown): EmqxClient | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const b = body as Record<string, unknown>;
  if (typeof b['clientid'] !== 'string') return undefined;
  return {
    clientid: b['clientid'],
    username: typeof b['username'] === 'string' ? b['username'] : undefined,
    // Listed clients are connected unless EMQX says otherwise (a persistent session of a gone client: false).
    connected: b['connected'] !== false,
    connectedAt: time(b['connected_at']),
    keepalive: typeof b['keepalive'] === 'number' ? b['keepalive'] : undefined,
    cleanStart: typeof b['clean_start'] === 'boolean' ? b['clean_start'] : undefined,
  };
}

export class EmqxApi {
  private readonly authorization: string;

  constructor(private readonly options: EmqxApiOptions) {
    this.authorization = `Basic ${Buffer.from(`${options.key}:${options.secret}`).toString('base64')}`;
  }

  private async get(path: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.options.url}${path}`, {
      headers: { authorization: this.authorization, accept: 'application/json' },
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = undefined;
    }
    if (res.status !== 200 && res.status !== 404) throw new Error(`EMQX API ${path.split('?')[0]} answered ${res.status}`);
    return { status: res.status, body };
  }

  /** The client, or undefined when EMQX no longer knows it (404). */
  async client(clientId: string): Promise<EmqxClient | undefined> {
    const { status, body } = await this.get(`/api/v5/clients/${encodeURIComponent(clientId)}`);
    if (status === 404) return undefined;
    const found = client(body);
    if (!found) throw new Error('EMQX API: unexpected client body');
    return found;
  }

  /** The client's topic filters as it subscribed them ([] when EMQX no longer knows it). */
  async subscriptions(clientId: string): Promise<string[]> {
    const { status, body } = await this.get(`/api/v5/clients/${encodeURIComponent(clientId)}/subscriptions`);
    if (status === 404) return [];
    if (!Array.isArray(body)) throw new Error('EMQX API: unexpected subscriptions body');
    return body.flatMap((s: unknown) =>
      typeof s === 'object' && s !== null && typeof (s as { topic?: unknown }).topic === 'string' ? [(s as { topic: string }).topic] : [],
    );
  }

  /** One page of connected clients (1-based page). */
  async clients(page: number, limit: number): Promise<{ clients: EmqxClient[]; hasNext: boolean }> {
    const { status, body } = await this.get(`/api/v5/clients?_page=${page}&_limit=${Math.min(MAX_PAGE, limit)}`);
    if (status !== 200 || typeof body !== 'object' || body === null) throw new Error('EMQX API: unexpected clients body');
    const b = body as { data?: unknown; meta?: { hasnext?: unknown } };
    const clients = Array.isArray(b.data) ? b.data.map(client).filter((c): c is EmqxClient => c !== undefined) : [];
    return { clients, hasNext: b.meta?.hasnext === true };
  }
}
