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

  /** A call's record; `slot` (the slot the message ID carries) may be given when it is known already. */
  call(messageId: string, slot: number = slotOfMessageId(messageId)): string {
    return `${this.namespace}:{${tagForSlot(slot)}}:call:${messageId}`;
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

  /** A persistent call (job) of a device; its keys share the device's hash tag. */
  job(device: DeviceRef, jobId: string): string {
    return `${this.namespace}:{${deviceId(device)}}:job:${jobId}`;
  }

  /** A device's unfinished jobs, by creation order (the head is the one to deliver next). */
  deviceJobs(device: DeviceRef): string {
    return `${this.namespace}:{${deviceId(device)}}:jobs`;
  }

  /** Every job of a device, finished ones too, by creation order (for listing). */
  deviceJobIndex(device: DeviceRef): string {
    return `${this.namespace}:{${deviceId(device)}}:jobidx`;
  }

  /** The devices that have unfinished jobs (read by a worker after it re-subscribes to presence events). */
  get jobDevices(): string {
    return `${this.namespace}:jobs:devices`;
  }

  /** The devices of a product that are connected now (device names). */
  onlineDevices(productKey: string): string {
    return `${this.namespace}:{p:${productKey}}:online`;
  }

  batch(batchId: string): string {
    return `${this.namespace}:{b:${batchId}}:batch`;
  }

  /** A batch's devices, in request order: the list index is the item index. */
  batchDevices(batchId: string): string {
    return `${this.namespace}:{b:${batchId}}:devices`;
  }

  /** A batch's results: item index → result JSON. */
  batchResults(batchId: string): string {
    return `${this.namespace}:{b:${batchId}}:results`;
  }

  /** A batch's items in progress: item index → "m:<messageId>" (call begun) or "j:<jobId>" (waiting as a job). */
  batchItems(batchId: string): string {
    return `${this.namespace}:{b:${batchId}}:items`;
  }

  /** An Idempotency-Key of one API key; both are given as hashes. */
  idempotency(scopeHash: string, keyHash: string): string {
    return `${this.namespace}:idem:{${scopeHash}}:${keyHash}`;
  }

  /** Published by presence-connect-1.lua with the device id "<pk>/<dn>" whenever a device comes online. */
  get presenceOnlineChannel(): string {
    return `${this.namespace}:presence:online`;
  }

  /**
   * A device's registry record (hash: s sealed secret, e enabled "1"/"0", c created at ms); same slot as its
   * presence, so call-begin reads it in the same script. Owner: the registry (deleted with the device).
   */
  device(device: DeviceRef): string {
    return `${this.namespace}:{${deviceId(device)}}:device`;
  }

  /** The registered device names of a product (sorted set, score 0, read by name: cursor paging). Owner: the registry. */
  productDevices(productKey: string): string {
    return `${this.namespace}:{p:${productKey}}:devices`;
  }

  /** Published by PresenceStore on every change of a device's connection: {"d":"<pk>/<dn>","s":"ONLINE"|"OFFLINE"}. */
  get presenceChangesChannel(): string {
    return `${this.namespace}:presence:changes`;
  }

  /** The pods that reported in (sorted set: "<kind>/<instanceId>" by expiry); trimmed by every read and write. */
  get podIndex(): string {
    return `${this.namespace}:{pods}:index`;
  }

  /** One pod's last summary (JSON), with a TTL of a few report intervals. */
  pod(member: string): string {
    if (!/^[a-z-]{1,32}\/[A-Za-z0-9_.-]{1,64}$/.test(member)) throw new RangeError(`bad pod "${member}"`);
    return `${this.namespace}:{pods}:pod:${member}`;
  }

  /**
   * Devices whose calls timed out while they were marked ONLINE (list of "<pk>/<dn>", newest first), for the
   * ingest to check against the broker. Bounded (LTRIM) and expiring; owner: the ingest's reconciler (RPOP).
   */
  get reconcileTimeouts(): string {
    return `${this.namespace}:reconcile:timeouts`;
  }

  /** The reconciliation sweep's lease (one replica at a time; value: its instance id; expires by itself). */
  get reconcileLease(): string {
    return `${this.namespace}:reconcile:lease`;
  }

  /** Where the reconciliation sweep's walk over presence records stands (expires by itself). */
  get reconcileCursor(): string {
    return `${this.namespace}:reconcile:cursor`;
  }

  /** The MATCH pattern of every presence record (for the reconciliation sweep's SCAN). */
  get presencePattern(): string {
    return `${this.namespace}:{*}:presence`;
  }

  /** The prefix of the BullMQ queues (one hash tag, as BullMQ needs on a Redis Cluster). */
  get queuePrefix(): string {
    return `${this.namespace}:{bull}`;
  }

  /** What an API key holds now (unfinished jobs, devices in running batches, bytes): running totals. */
  apiKeyUsage(keyId: string): string {
    this.apiKeyRateLimit(keyId); // checks the id
    return `${this.namespace}:{k:${keyId}}:usage`;
  }

  /** The holdings behind apiKeyUsage: ZSET of "<kind>|<id>|<jobs>|<devices>|<bytes>" by the time each ends at the latest. */
  apiKeyHoldings(keyId: string): string {
    this.apiKeyRateLimit(keyId); // checks the id
    return `${this.namespace}:{k:${keyId}}:held`;
  }

  /** A SCAN pattern matching every product's device index (productDevices), for the reseal command. */
  get productDevicesPattern(): string {
    return `${this.namespace}:{p:*}:devices`;
  }

  /** The product key of a productDevices key, or undefined when the key is not one. */
  productOfDevicesKey(key: string): string | undefined {
    const prefix = `${this.namespace}:{p:`;
    const suffix = '}:devices';
    return key.startsWith(prefix) && key.endsWith(suffix) ? key.slice(prefix.length, key.length - suffix.length) : undefined;
  }
}
