/**
 * The console's only way to the API: every request carries the signed-in key as a bearer token (never in a
 * URL), and every error is read from the API's own error body ({"error": {"code", "message"}}).
 */
const KEY_ITEM = 'rrpc.apiKey';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ApiAnswer<T> {
  status: number;
  body: T;
  headers: Headers;
}

export const session = {
  get key(): string | null {
    return sessionStorage.getItem(KEY_ITEM);
  },
  set key(value: string | null) {
    if (value === null) sessionStorage.removeItem(KEY_ITEM);
    else sessionStorage.setItem(KEY_ITEM, value);
  },
  /** Session-scoped lists (the calls and batches this browser made): newest first, bounded. */
  list<T>(name: string): T[] {
    try {
      return JSON.parse(sessionStorage.getItem(`rrpc.${name}`) ?? '[]') as T[];
    } catch {
      return [];
    }
  },
  push<T>(name: string, item: T, max = 50): void {
    sessionStorage.setItem(`rrpc.${name}`, JSON.stringify([item, ...session.list<T>(name)].slice(0, max)));
  },
};

/** The API's base: the console is served by the api at /console/, so the API is the same origin. */
export const apiBase = new URL('..', location.href).href.replace(/\/$/, '');

export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code}, HTTP ${error.status})`;
  if (error instanceof TypeError) return 'The API could not be reached (network error).';
  return error instanceof Error ? error.message : String(error);
}

export async function api<T = Record<string, unknown>>(
  method: string,
  path: string,
  init: { json?: unknown; body?: BodyInit; headers?: Record<string, string>; allow?: number[]; signal?: AbortSignal } = {},
): Promise<ApiAnswer<T>> {
  const headers = new Headers(init.headers);
  const key = session.key;
  if (key) headers.set('authorization', `Bearer ${key}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(apiBase + path, { method, headers, body: body ?? null, signal: init.signal ?? null, cache: 'no-store' });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!res.ok && !(init.allow ?? []).includes(res.status)) {
    const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? (text || res.statusText), parsed);
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

export const enc = encodeURIComponent;
