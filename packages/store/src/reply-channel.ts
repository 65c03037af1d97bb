import type { Redis } from 'ioredis';

export interface ReplyChannelHandlers {
  /** An answer for one of this pod's calls. */
  onReply(messageId: string, payload: Buffer): void;
  /** The subscription was lost and is confirmed again: answers published meanwhile were missed. */
  onResubscribed(): void;
}

/**
 * This pod's single reply subscription. Notifications are `<messageId> <payload bytes>` (call-claim-1.lua).
 * On a Redis Cluster it is a sharded subscription (SSUBSCRIBE) on the primary that owns the channel's slot.
 * Pub/sub is at-most-once, so after every re-subscribe the owner re-reads its pending calls' outcomes.
 */
export class ReplyChannel {
  private subscribedOnce = false;
  private confirmed = false;
  private readonly channelBytes: Buffer;

  constructor(
    private readonly subscriber: Redis,
    readonly channel: string,
    private readonly sharded: boolean,
    private readonly handlers: ReplyChannelHandlers,
  ) {
    this.channelBytes = Buffer.from(channel);
    subscriber.on(sharded ? 'smessageBuffer' : 'messageBuffer', (channelName: Buffer, message: Buffer) => {
      if (!channelName.equals(this.channelBytes)) return;
      const space = message.indexOf(0x20);
      if (space <= 0) return;
      this.handlers.onReply(message.subarray(0, space).toString('latin1'), message.subarray(space + 1));
    });
    subscriber.on('close', () => {
      this.confirmed = false;
    });
    subscriber.on('ready', () => {
      if (this.subscribedOnce) void this.confirm();
    });
  }

  /** True while the subscription is confirmed by Redis. */
  get ready(): boolean {
    return this.confirmed && this.subscriber.status === 'ready';
  }

  private subscribe(): Promise<unknown> {
    return this.sharded ? this.subscriber.ssubscribe(this.channel) : this.subscriber.subscribe(this.channel);
  }

  async start(): Promise<void> {
    await this.subscribe();
    this.subscribedOnce = true;
    this.confirmed = true;
  }

  private async confirm(): Promise<void> {
    try {
      await this.subscribe();
      this.confirmed = true;
      this.handlers.onResubscribed();
    } catch {
      // The connection dropped again; the next 'ready' tries again.
    }
  }

  async stop(): Promise<void> {
    this.confirmed = false;
    this.subscribedOnce = false;
    if (this.subscriber.status !== 'ready') {
      // Redis gone: the offline queue would hold the UNSUBSCRIBE until it is back (a stop that never ends).
      this.subscriber.disconnect();
      return;
    }
    try {
      await (this.sharded ? this.subscriber.sunsubscribe(this.channel) : this.subscriber.unsubscribe(this.channel));
    } catch {
      // closing anyway
    }
    this.subscriber.disconnect();
  }
}
