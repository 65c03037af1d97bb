/** What the calls cost Redis: INFO commandstats deltas and a MONITOR sample of top-level commands. */
import { Redis } from 'ioredis';

export class RedisProbe {
  private readonly redis: Redis;

  constructor(url: string) {
    this.redis = new Redis(url, { connectionName: 'bench-probe', lazyConnect: false });
  }

  /** Calls per command since the server started (includes commands run inside Lua scripts). */
  async commandstats(): Promise<Record<string, number>> {
    const info = await this.redis.info('commandstats');
    const calls: Record<string, number> = {};
    for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[m[1] as string] = Number(m[2]);
    return calls;
  }

  static delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
    const d: Record<string, number> = {};
    for (const [cmd, n] of Object.entries(after)) {
      const diff = n - (before[cmd] ?? 0);
      if (diff > 0 && cmd !== 'info') d[cmd] = diff;
    }
    return d;
  }

  /**
   * Top-level commands each client connection sent while `work` ran, by connection name and command
   * (commands inside Lua are excluded: those are not round trips).
   */
  async monitor<T>(
    work: () => Promise<T>,
  ): Promise<{ result: T; byClient: Record<string, Record<string, number>>; topLevel: number; inLua: number }> {
    const names = new Map<string, string>();
    const list = (await this.redis.client('LIST')) as string;
    for (const line of list.split('\n')) {
      const addr = /\baddr=(\S+)/.exec(line)?.[1];
      const name = /\bname=(\S*)/.exec(line)?.[1];
      if (addr) names.set(addr, name || addr);
    }
    const monitor = await this.redis.monitor();
    const byClient: Record<string, Record<string, number>> = {};
    let topLevel = 0;
    let inLua = 0;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (source === 'lua' || source.endsWith('lua')) {
        inLua++;
        return;
      }
      const who = names.get(source) ?? source;
      if (who === 'bench-probe') return;
      const cmd = (args[0] ?? '').toLowerCase();
      topLevel++;
      const entry = (byClient[who] ??= {});
      entry[cmd] = (entry[cmd] ?? 0) + 1;
    });
    await new Promise((r) => setTimeout(r, 100));
    const result = await work();
    await new Promise((r) => setTimeout(r, 200));
    monitor.disconnect();
    return { result, byClient, topLevel, inLua };
  }

  close(): void {
    this.redis.disconnect();
  }
}
