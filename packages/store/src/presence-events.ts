import type { Redis } from 'ioredis';
import { deviceId, type DeviceRef } from '@rrpc/topics';

/**
 * "A device came online" notifications (the device id, PUBLISHed by presence-connect-1.lua; on a Redis
 * Cluster SPUBLISHed by PresenceStore after it) on a dedicated subscriber connection: on a cluster a sharded
 * subscription on the primary that owns the channel's slot (see createSubscriber). Pub/sub is at-most-once:
 * `onResubscribed` tells the owner that events may have been missed while the subscription was down.
 */
export class PresenceEvents {
  private readonly listeners = new Set<(device: string) => void>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private subscribed: Promise<unknown> | undefined;
  private confirmed = false;

  constructor(
    private readonly subscriber: Redis,
    readonly channel: string,
    private readonly onResubscribed: () => void = () => undefined,
    private readonly sharded = false,
  ) {
    subscriber.on(sharded ? 'smessage' : 'message', (channelName: string, message: string) => {
      if (channelName !== this.channel) return;
      for (const listener of this.listeners) listener(message);
      const waiting = this.waiters.get(message);
      if (waiting) for (const wake of [...waiting]) wake();
    });
    subscriber.on('close', () => {
      this.confirmed = false;
    });
    subscriber.on('ready', () => {
      if (this.subscribed === undefined) return;
      this.subscribe().then(
        () => {
          this.confirmed = true;
          this.onResubscribed();
        },
        () => undefined,
      );
    });
  }

  private subscribe(): Promise<unknown> {
    return this.sharded ? this.subscriber.ssubscribe(this.channel) : this.subscriber.subscribe(this.channel);
  }

  get ready(): boolean {
    return this.confirmed && this.subscriber.status === 'ready';
  }

  /** Subscribes once (later calls wait for the same subscription). */
  async start(): Promise<void> {
    this.subscribed ??= this.subscribe().then(() => {
      this.confirmed = true;
    });
    await this.subscribed;
  }

  /** Calls `listener` with every message on the channel ("<pk>/<dn>" on the online channel). */
  onMessage(listener: (message: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Calls `listener` with "<pk>/<dn>" for every device that comes online. */
  onOnline(listener: (device: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Registers a wait for `device` to come online before anything else happens, so an event that arrives
   * between a presence check and the wait is not missed: `check` runs after the registration.
   * Resolves true when the device came online within `timeoutMs`.
   */
  watch(device: DeviceRef): { wait(timeoutMs: number): Promise<boolean>; cancel(): void } {
    const id = deviceId(device);
    let fired = false;
    let wake: (() => void) | undefined;
    const onOnline = () => {
      fired = true;
      wake?.();
    };
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(onOnline);
    const cancel = () => {
      const s = this.waiters.get(id);
      s?.delete(onOnline);
      if (s?.size === 0) this.waiters.delete(id);
    };
    return {
      cancel,
      wait: (timeoutMs) =>
        new Promise<boolean>((resolve) => {
          if (fired) {
            fired = false;
            resolve(true);
            return;
          }
          const timer = setTimeout(
            () => {
              wake = undefined;
              resolve(false);
            },
            Math.max(0, timeoutMs),
          );
          wake = () => {
            clearTimeout(timer);
            wake = undefined;
            fired = false;
            resolve(true);
          };
        }),
    };
  }

  /** Closes the subscriber connection (after stop). */
  disconnect(): void {
    this.subscriber.disconnect();
  }

  async stop(): Promise<void> {
    this.confirmed = false;
    if (this.subscribed === undefined) return;
    this.subscribed = undefined;
    // Redis gone: the subscriber's offline queue would hold the UNSUBSCRIBE until it is back (a stop that never ends).
    if (this.subscriber.status !== 'ready') return;
    try {
      await this.subscriber.unsubscribe(this.channel);
    } catch {
      // closing anyway
    }
  }
}
