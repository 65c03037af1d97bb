import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { forbiddenAddress } from './callback-address.js';

/** An operator-allowed receiver (RRPC_CALLBACK_ALLOWED_HOSTS): a host name or address, optionally one port. */
export interface AllowedHost {
  hostname: string;
  port: number | undefined;
}

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (the default: the system resolver, as fetch uses). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

/** A callback target that passed the checks: where to connect, and only there. */
export interface CallbackTarget {
  url: URL;
  /** The host without IPv6 brackets (what TLS checks the certificate against, for a name). */
  host: string;
  /** Every address the connection may use; all of them were checked (or the host is allowed). */
  addresses: ResolvedAddress[];
}

/** A callback URL refused by the policy; `reason` is ours to show (it never contains a receiver's answer). */
export class CallbackRefused extends Error {
  constructor(readonly reason: string) {
    super(`callback URL refused: ${reason}`);
    this.name = 'CallbackRefused';
  }
}

const bare = (hostname: string) => (hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname);

/**
 * Where callbacks may go. At job creation `check` refuses what the URL alone shows to be wrong; at delivery
 * `resolve` resolves the host, checks every address, and returns the addresses the connection must use
 * (so a name that resolves elsewhere a moment later, DNS rebinding, changes nothing).
 */
export class CallbackPolicy {
  constructor(
    private readonly allowed: readonly AllowedHost[] = [],
    private readonly resolver: HostResolver = systemResolver,
  ) {}

  private isAllowed(url: URL): boolean {
    const host = bare(url.hostname).toLowerCase().replace(/\.$/, '');
    const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
    return this.allowed.some((a) => a.hostname === host && (a.port === undefined || a.port === port));
  }

  /** The problem with this URL as a callback target, or undefined. Looks at the URL only (no DNS). */
  problem(raw: string): string | undefined {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      return 'must be an absolute https URL';
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https URL';
    if (url.username !== '' || url.password !== '') return 'must not contain a user name or password';
    // The WHATWG parser has already turned numeric spellings (0x7f000001, 2130706433, 0177.0.0.1, 127.1) into
    // dotted IPv4, lower-cased the name and put IPv6 literals in brackets.
    const host = bare(url.hostname).replace(/\.$/, '');
    if (host === '') return 'must name a host';
    const allowed = this.isAllowed(url);
    if (url.protocol === 'http:' && !allowed) return 'must use https (plain http only to the hosts in RRPC_CALLBACK_ALLOWED_HOSTS)';
    if (allowed) return undefined;
    if (host === 'localhost' || host.endsWith('.localhost')) return 'must not be a loopback host';
    if (isIP(host) !== 0) {
      const reason = forbiddenAddress(host);
      if (reason !== undefined) return `must not be a ${reason} address`;
    }
    return undefined;
  }

  /** Checks the URL and every address its host resolves to now; throws CallbackRefused, or the resolver's error. */
  async resolve(raw: string): Promise<CallbackTarget> {
    const problem = this.problem(raw);
    if (problem !== undefined) throw new CallbackRefused(problem);
    const url = new URL(raw);
    const host = bare(url.hostname);
    const family = isIP(host);
    if (family !== 0) return { url, host, addresses: [{ address: host, family: family === 6 ? 6 : 4 }] };
    const addresses = await this.resolver(host);
    if (addresses.length === 0) throw new Error(`${host} has no address`);
    if (!this.isAllowed(url)) {
      for (const { address } of addresses) {
        const reason = forbiddenAddress(address);
        if (reason !== undefined) throw new CallbackRefused(`the host resolves to a ${reason} address`);
      }
    }
    return { url, host, addresses };
  }
}
