import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Logger } from 'pino';

/**
 * The API keys this pod accepts, held only as SHA-256 digests: keys from RRPC_API_KEYS are hashed at
 * start, and a keys file (RRPC_API_KEYS_FILE) is re-read when it changes, so keys rotate without a restart.
 *
 * Keys file: one key a line; blank lines and lines starting with "#" are skipped.
 *   sha256:<64 hex digits> [products=pk1,pk2] [rate=N]     the key's SHA-256 (preferred: no secret on disk)
 *   <plain key, 16+ characters> [products=...] [rate=N]   hashed as it is read
 * products= scopes the key to those product keys; rate= sets its own calls-per-second limit.
 * callback=N gives the key its own callback secret, generation N (derived by the worker, docs/callbacks.md);
 * callback-previous-until=<ISO time> lets generation N-1 sign too until then (the rotation overlap).
 * admin: the key may read every key's outcomes, jobs and batches (for the console and operators).
 * max-jobs=N, max-batch-devices=N, max-bytes=N: the key's own caps (see KeyCaps); 0: no cap.
 */
export interface ApiKey {
  /** A public name for the key: the first 12 hex digits of its digest (logs, rate-limit keys). */
  readonly id: string;
  readonly digest: Buffer;
  /** Product keys this key may call; undefined: every product. */
  readonly products: ReadonlySet<string> | undefined;
  /** This key's calls-per-second limit; undefined: the default (RRPC_RATE_LIMIT_PER_KEY). */
  readonly ratePerSecond: number | undefined;
  /** This key's own callback secret (its generation); undefined: the shared RRPC_CALLBACK_SECRET signs. */
  readonly callback?: CallbackGeneration | undefined;
  /** May read every key's records (the "admin" option). */
  readonly admin: boolean;
  readonly caps: KeyCaps;
}

/** callback= and callback-previous-until= of a keys-file line. */
export interface CallbackGeneration {
  readonly generation: number;
  readonly previousUntil: number | undefined;
}

/**
 * Per-key caps on what a key may hold at once; undefined: the default from the environment
 * (RRPC_MAX_JOBS_PER_KEY, RRPC_MAX_BATCH_DEVICES_PER_KEY, RRPC_MAX_BYTES_PER_KEY); 0: no cap.
 */
export interface KeyCaps {
  /** Jobs not finished yet. */
  readonly jobs?: number | undefined;
  /** Devices of the key's batches that are still running. */
  readonly batchDevices?: number | undefined;
  /** Request payload bytes held by the key's unfinished jobs and running batches. */
  readonly bytes?: number | undefined;
}

/** Who made a request: the key that authenticated it (or "anonymous" when authentication is disabled). */
export interface Principal {
  readonly keyId: string;
  readonly products: ReadonlySet<string> | undefined;
  readonly ratePerSecond: number | undefined;
  readonly callback?: CallbackGeneration | undefined;
  /** May read every key's records; every other key reads only its own (others are "not found"). */
  readonly admin: boolean;
  readonly caps: KeyCaps;
}

export const ANONYMOUS: Principal = { keyId: 'anonymous', products: undefined, ratePerSecond: undefined, admin: false, caps: {} };

export class KeysFileError extends Error {
  constructor(
    readonly path: string,
    readonly problems: string[],
  ) {
    super(`API keys file ${path}: ${problems.join('; ')}`);
    this.name = 'KeysFileError';
  }
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();
const PRODUCT_KEY = /^[A-Za-z0-9_-]{1,32}$/;

function makeKey(digest: Buffer, products?: ReadonlySet<string>, ratePerSecond?: number, admin = false, caps: KeyCaps = {}): ApiKey {
  return { id: digest.toString('hex').slice(0, 12), digest, products, ratePerSecond, admin, caps };
}

/** Keys-file options that set a cap, and the KeyCaps field each sets. */
const CAP_OPTIONS: Record<string, keyof KeyCaps> = { 'max-jobs': 'jobs', 'max-batch-devices': 'batchDevices', 'max-bytes': 'bytes' };

/** A key as written in RRPC_API_KEYS or a keys file: "sha256:<hex>" is a digest, anything else the key itself. */
export function digestOf(entry: string): Buffer {
  const m = /^sha256:([0-9a-fA-F]{64})$/.exec(entry);
  return m ? Buffer.from(m[1]!, 'hex') : sha256(entry);
}

/** Parses a keys file; every bad line is reported (with its number, never its content). */
export function parseKeysFile(text: string): { keys: ApiKey[]; problems: string[] } {
  const keys: ApiKey[] = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [secret, ...options] = line.split(/\s+/);
    const where = `line ${i + 1}`;
    if (secret === undefined) return;
    if (secret.startsWith('sha256:') ? !/^sha256:[0-9a-fA-F]{64}$/.test(secret) : secret.length < 16) {
      problems.push(`${where}: the key must be "sha256:" and 64 hex digits, or a plain key of at least 16 characters`);
      return;
    }
    let products: Set<string> | undefined;
    let rate: number | undefined;
    let callbackGeneration: number | undefined;
    let previousUntil: number | undefined;
    let admin = false;
    const caps: { -readonly [K in keyof KeyCaps]: KeyCaps[K] } = {};
    for (const option of options) {
      const [name, value = ''] = option.split('=', 2);
      if (name === 'products') {
        const list = value.split(',').filter((p) => p !== '');
        if (list.length === 0 || !list.every((p) => PRODUCT_KEY.test(p))) {
          problems.push(`${where}: products= must list product keys separated by commas`);
          return;
        }
        products = new Set(list);
      } else if (name === 'rate') {
        rate = Number(value);
        if (!/^\d+$/.test(value) || rate > 10_000_000) {
          problems.push(`${where}: rate= must be a whole number of calls per second (0: no limit)`);
          return;
        }
      } else if (name === 'callback') {
        callbackGeneration = Number(value);
        if (!/^\d{1,9}$/.test(value) || callbackGeneration < 1) {
          problems.push(`${where}: callback= must be the generation of the key's callback secret, a whole number from 1`);
          return;
        }
      } else if (name === 'callback-previous-until') {
        previousUntil = /^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$/.test(value) ? Date.parse(value) : NaN;
        if (!Number.isFinite(previousUntil)) {
          problems.push(`${where}: callback-previous-until= must be an ISO 8601 time in UTC ("Z")`);
          return;
        }
      } else if (name === 'admin' && !option.includes('=')) {
        admin = true;
      } else if (name !== undefined && CAP_OPTIONS[name] !== undefined) {
        const cap = Number(value);
        if (!/^\d+$/.test(value) || cap > Number.MAX_SAFE_INTEGER) {
          problems.push(`${where}: ${name}= must be a whole number (0: no cap)`);
          return;
        }
        caps[CAP_OPTIONS[name]] = cap;
      } else {
        problems.push(
          `${where}: unknown option "${name}" (products=, rate=, admin, max-jobs=, max-batch-devices=, max-bytes=, callback=, callback-previous-until=)`,
        );
        return;
      }
    }
    if (previousUntil !== undefined && (callbackGeneration === undefined || callbackGeneration < 2)) {
      problems.push(`${where}: callback-previous-until= needs callback= of 2 or more (the previous generation signs until then)`);
      return;
    }
    const key = makeKey(digestOf(secret), products, rate, admin, caps);
    keys.push(callbackGeneration === undefined ? key : { ...key, callback: { generation: callbackGeneration, previousUntil } });
  });
  return { keys, problems };
}

export interface ApiKeyRingOptions {
  /** Keys from the environment (plain or "sha256:<hex>"). Only their digests are kept. */
  keys: readonly string[];
  file?: string | undefined;
  logger: Logger;
  /** How often the keys file's modification time is checked. */
  pollMs?: number;
}

export class ApiKeyRing {
  private readonly fixed: ApiKey[];
  /** The fixed keys and the file's, joined when the file is (re)read, not per request. */
  private all: ApiKey[];
  private readonly file: string | undefined;
  private readonly logger: Logger;
  private readonly pollMs: number;
  private watching = false;

  constructor(options: ApiKeyRingOptions) {
    this.fixed = options.keys.map((k) => makeKey(digestOf(k)));
    this.all = this.fixed;
    this.file = options.file;
    this.logger = options.logger;
    this.pollMs = options.pollMs ?? 1000;
  }

  get size(): number {
    return this.all.length;
  }

  /** Reads the keys file (a bad file at start is an error) and watches it for changes. */
  start(): void {
    if (this.file === undefined) return;
    this.logger.info({ file: this.file, keys: this.useFileKeys(this.read(this.file)) }, 'API keys file loaded');
    watchFile(this.file, { interval: this.pollMs, persistent: false }, this.onChange);
    this.watching = true;
  }

  stop(): void {
    if (this.file !== undefined && this.watching) unwatchFile(this.file, this.onChange);
    this.watching = false;
  }

  /** Re-reads the file now (the watcher does this on every change). A bad file keeps the previous keys. */
  reload(): void {
    if (this.file === undefined) return;
    try {
      this.logger.info({ file: this.file, keys: this.useFileKeys(this.read(this.file)) }, 'API keys file reloaded');
    } catch (error) {
      this.logger.error({ err: error, file: this.file }, 'API keys file not reloaded; the previous keys stay in force');
    }
  }

  private readonly onChange = (current: Stats, previous: Stats) => {
    if (current.mtimeMs === previous.mtimeMs && current.size === previous.size && current.ino === previous.ino) return;
    this.reload();
  };

  /** Puts the file's keys in force; returns how many there are. */
  private useFileKeys(keys: ApiKey[]): number {
    this.all = this.fixed.concat(keys);
    return keys.length;
  }

  private read(file: string): ApiKey[] {
    const { keys, problems } = parseKeysFile(readFileSync(file, 'utf8'));
    if (problems.length > 0) throw new KeysFileError(file, problems);
    return keys;
  }

  /**
   * The key an "Authorization: Bearer <key>" header presents, or undefined. The presented key's digest is
   * compared with every known digest in constant time, without stopping at a match.
   */
  authenticate(authorization: string | undefined): Principal | undefined {
    if (authorization === undefined || !/^Bearer /i.test(authorization)) return undefined;
    const presented = sha256(authorization.slice(7).trim());
    let found: ApiKey | undefined;
    for (const key of this.all) {
      if (timingSafeEqual(key.digest, presented) && found === undefined) found = key;
    }
    return (
      found && {
        keyId: found.id,
        products: found.products,
        ratePerSecond: found.ratePerSecond,
        admin: found.admin,
        caps: found.caps,
        ...(found.callback ? { callback: found.callback } : {}),
      }
    );
  }
}
