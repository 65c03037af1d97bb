import { deviceId, type DeviceRef } from '@rrpc/topics';
import { slotOf, tagForSlot } from './slots.js';
import { slotOfMessageId } from './message-ids.js';

/**
 * Every Redis key and channel name the cluster uses. All start with the namespace, so two clusters can
 * share one Redis. Keys that one script touches together share a hash tag (one Redis Cluster slot).
 */
export class Keys {
  readonly namespace: string;
  readonly replyChannelPrefix: string;

  constructor(namespace: string) {
    if (!/^[A-Za-z0-9_.-]{1,32}$/.test(namespace)) throw new RangeError(`bad namespace "${namespace}"`);
    this.namespace = namespace;
    this.replyChannelPrefix = `${namespace}:reply:`;
  }

  /** The slot of a device's keys; message IDs for calls to this device carry it. */
  deviceSlot(device: DeviceRef): number {
    return slotOf(deviceId(device));
  }

  presence(device: DeviceRef): string {
    return `${this.namespace}:{${deviceId(device)}}:presence`;
  }

  call(messageId: string): string {
    return `${this.namespace}:{${tagForSlot(slotOfMessageId(messageId))}}:call:${messageId}`;
  }

  /** A device's call rate limit (same slot as its presence hash). */
  deviceRateLimit(device: DeviceRef): string {
    return `${this.namespace}:{${deviceId(device)}}:rate`;
  }

  /** An API key's call rate limit; `keyId` is a public id of the key (a prefix of its SHA-256), never the key. */
  apiKeyRateLimit(keyId: string): string {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(keyId)) throw new RangeError(`bad API key id "${keyId}"`);
    return `${this.namespace}:{k:${keyId}}:rate`;
  }

  /** One reply channel per api pod: the ingest publishes answers for that pod's calls here. */
  replyChannel(instanceId: string): string {
    return this.replyChannelPrefix + instanceId;
  }
}
