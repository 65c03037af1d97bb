import { z } from 'zod';

/** Helpers that turn environment strings into typed values with messages a person can act on. */
export const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .optional()
    .transform((v) => (v === undefined ? fallback : v === 'true' || v === '1' || v === 'yes'));

export const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

export const url = (fallback: string, protocols: readonly string[]) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const value = v === undefined || v === '' ? fallback : v;
      let parsed: URL;
      try {
        parsed = new URL(value);
      } catch {
        ctx.addIssue({ code: 'custom', message: `must be a URL such as ${fallback}` });
        return z.NEVER;
      }
      if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
        ctx.addIssue({ code: 'custom', message: `must use ${protocols.join(', ')}` });
        return z.NEVER;
      }
      return value;
    });

export const list = () =>
  z
    .string()
    .optional()
    .transform((v) =>
      (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s.length > 0),
    );

export const optionalString = () =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? undefined : v));

/**
 * A comma-separated list of "host" or "host:port" (IPv6 literals in brackets), e.g. RRPC_CALLBACK_ALLOWED_HOSTS;
 * each becomes { hostname (lower case, no brackets, no trailing dot), port (undefined: any) }.
 */
export const hostList = () =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const hosts: Array<{ hostname: string; port: number | undefined }> = [];
      for (const entry of (v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')) {
        let parsed: URL | undefined;
        try {
          parsed = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(:\d{1,5})?$/.test(entry) ? new URL(`http://${entry}`) : undefined;
        } catch {
          parsed = undefined;
        }
        const port = /:(\d{1,5})$/.exec(entry)?.[1];
        if (
          !parsed ||
          parsed.pathname !== '/' ||
          parsed.search !== '' ||
          parsed.hash !== '' ||
          parsed.username !== '' ||
          (port !== undefined && (Number(port) < 1 || Number(port) > 65_535))
        ) {
          ctx.addIssue({ code: 'custom', message: `"${entry}" is not a host or host:port (a comma-separated list)` });
          return z.NEVER;
        }
        hosts.push({
          hostname: parsed.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, ''),
          port: port === undefined ? undefined : Number(port),
        });
      }
      return hosts;
    });
