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

  /** One reply channel per api pod: the ingest publishes answers for that pod's calls here. */
  replyChannel(instanceId: string): string {
    return this.replyChannelPrefix + instanceId;
  }
}
