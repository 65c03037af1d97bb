import { readFileSync } from 'node:fs';
import type { RedisClient } from './connection.js';

/**
 * The Lua scripts, read once from ../lua/<name>-<numKeys>.lua and registered on each connection with
 * defineCommand (EVALSHA, with EVAL as the fallback after a Redis restart empties its script cache).
 */
const SCRIPTS = {
  rrpcCallBegin: 'call-begin-4.lua',
  rrpcCallClaim: 'call-claim-1.lua',
  rrpcCallExpire: 'call-expire-1.lua',
  rrpcPresenceConnect: 'presence-connect-1.lua',
  rrpcPresenceDisconnect: 'presence-disconnect-1.lua',
  rrpcRateLimit: 'rate-limit-1.lua',
  rrpcJobCreate: 'job-create-3.lua',
  rrpcJobTransition: 'job-transition-2.lua',
  rrpcBatchRecord: 'batch-record-2.lua',
  rrpcIdempotencyBegin: 'idempotency-begin-1.lua',
  rrpcDeviceCreate: 'device-create-1.lua',
  rrpcDeviceUpdate: 'device-update-1.lua',
  rrpcQuotaReserve: 'quota-reserve-2.lua',
  rrpcQuotaRelease: 'quota-release-2.lua',
  rrpcDeviceReseal: 'device-reseal-1.lua',
  rrpcPresenceSubscribe: 'presence-subscribe-1.lua',
} as const;

type Arg = string | number | Buffer;

/** The typed surface of the registered scripts. */
export interface ScriptCommands {
  rrpcCallBegin(
    presenceKey: string,
    callKey: string,
    rateKey: string,
    deviceKey: string,
    ...args: Arg[]
  ): Promise<[number, ...(number | string)[]]>;
  rrpcCallClaim(callKey: string, ...args: Arg[]): Promise<string>;
  rrpcCallExpireBuffer(callKey: string, ...args: Arg[]): Promise<Buffer[]>;
  rrpcPresenceConnect(presenceKey: string, ...args: Arg[]): Promise<string>;
  rrpcPresenceDisconnect(presenceKey: string, ...args: Arg[]): Promise<string>;
  rrpcRateLimit(limitKey: string, ...args: Arg[]): Promise<[number, number]>;
  rrpcJobCreate(jobKey: string, queueKey: string, indexKey: string, ...args: Arg[]): Promise<[number, number]>;
  rrpcJobTransition(jobKey: string, queueKey: string, ...args: Arg[]): Promise<[number, string, number, number?]>;
  rrpcBatchRecord(batchKey: string, resultsKey: string, ...args: Arg[]): Promise<[number, number, number]>;
  rrpcIdempotencyBeginBuffer(idemKey: string, ...args: Arg[]): Promise<Buffer[]>;
  rrpcDeviceCreate(deviceKey: string, ...args: Arg[]): Promise<number>;
  rrpcDeviceUpdate(deviceKey: string, ...args: Arg[]): Promise<number>;
  rrpcQuotaReserve(usageKey: string, holdingsKey: string, ...args: Arg[]): Promise<[number, ...(number | string)[]]>;
  rrpcQuotaRelease(usageKey: string, holdingsKey: string, ...args: Arg[]): Promise<number>;
  rrpcDeviceReseal(deviceKey: string, ...args: Arg[]): Promise<number>;
  rrpcPresenceSubscribe(presenceKey: string, ...args: Arg[]): Promise<string>;
}

let sources: Array<{ name: string; numberOfKeys: number; lua: string }> | undefined;

function loadSources() {
  sources ??= Object.entries(SCRIPTS).map(([name, file]) => {
    const numberOfKeys = Number(/-(\d+)\.lua$/.exec(file)?.[1]);
    return { name, numberOfKeys, lua: readFileSync(new URL(`../lua/${file}`, import.meta.url), 'utf8') };
  });
  return sources;
}

const registered = new WeakSet<RedisClient>();

export function withScripts<R extends RedisClient>(redis: R): R & ScriptCommands {
  if (!registered.has(redis)) {
    for (const s of loadSources()) redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
    registered.add(redis);
  }
  return redis as R & ScriptCommands;
}
