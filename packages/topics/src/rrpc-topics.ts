/**
 * The one place where RRPC topic strings are built and parsed.
 *
 * System topics:  request  /sys/${pk}/${dn}/rrpc/request/${messageId}
 *                 response /sys/${pk}/${dn}/rrpc/response/${messageId}
 * Custom topics:  for a call with topic /${pk}/${dn}/user/..., request and response both travel on
 *                 /ext/rrpc/${messageId}/${pk}/${dn}/user/...
 */
import { MAX_CUSTOM_TOPIC_LEVELS, isDeviceName, isMessageId, isProductKey, isTopicLevel, type DeviceRef } from './identifiers.js';

export type TopicKind = 'sys' | 'ext';

/**
 * MQTT 5 user property the api puts on every request it publishes (value: its instance id). On custom
 * topics the ingest hears the platform's own request on the very topic the device answers on; this
 * property tells the two apart even when the device echoes the request's bytes.
 */
export const ORIGIN_PROPERTY = 'rrpc-origin';

export interface ParsedResponseTopic extends DeviceRef {
  kind: TopicKind;
  messageId: string;
}

export type CustomTopicCheck = { ok: true } | { ok: false; reason: string };

/** Checks a caller's custom topic: `/${pk}/${dn}/user/<level>[/<level>...]` for exactly this device. */
export function checkCustomTopic(topic: unknown, device: DeviceRef): CustomTopicCheck {
  if (typeof topic !== 'string') return { ok: false, reason: 'must be a string' };
  if (topic.length > 256) return { ok: false, reason: 'must be at most 256 characters' };
  const levels = topic.split('/');
  if (levels[0] !== '' || levels[1] !== device.productKey || levels[2] !== device.deviceName || levels[3] !== 'user') {
    return { ok: false, reason: `must start with /${device.productKey}/${device.deviceName}/user/` };
  }
  const rest = levels.slice(4);
  if (rest.length === 0 || rest.length > MAX_CUSTOM_TOPIC_LEVELS) {
    return { ok: false, reason: `must have 1 to ${MAX_CUSTOM_TOPIC_LEVELS} levels after /user/` };
  }
  if (!rest.every(isTopicLevel)) {
    return { ok: false, reason: 'levels after /user/ may contain only letters, digits, "_", "-" and "."' };
  }
  return { ok: true };
}

export function systemRequestTopic(device: DeviceRef, messageId: string): string {
  return `/sys/${device.productKey}/${device.deviceName}/rrpc/request/${messageId}`;
}

/** The request topic for a call; `customTopic` must have passed checkCustomTopic. */
export function requestTopic(device: DeviceRef, messageId: string, customTopic?: string): string {
  return customTopic === undefined ? systemRequestTopic(device, messageId) : `/ext/rrpc/${messageId}${customTopic}`;
}

/**
 * Parses a topic on which a device answers. Returns undefined for anything that is not a well-formed
 * response topic (a request topic, wrong shape, bad identifiers).
 */
export function parseResponseTopic(topic: string): ParsedResponseTopic | undefined {
  const levels = topic.split('/');
  if (levels[0] !== '') return undefined;
  if (levels[1] === 'sys') {
    // ['', 'sys', pk, dn, 'rrpc', 'response', id]
    if (levels.length !== 7 || levels[4] !== 'rrpc' || levels[5] !== 'response') return undefined;
    const [, , productKey, deviceName, , , messageId] = levels;
    if (!isProductKey(productKey) || !isDeviceName(deviceName) || !isMessageId(messageId)) return undefined;
    return { kind: 'sys', productKey, deviceName, messageId };
  }
  if (levels[1] === 'ext' && levels[2] === 'rrpc') {
    // ['', 'ext', 'rrpc', id, pk, dn, 'user', ...]
    const [, , , messageId, productKey, deviceName] = levels;
    if (!isMessageId(messageId) || !isProductKey(productKey) || !isDeviceName(deviceName)) return undefined;
    const custom = '/' + levels.slice(4).join('/');
    if (!checkCustomTopic(custom, { productKey, deviceName }).ok) return undefined;
    return { kind: 'ext', productKey, deviceName, messageId };
  }
  return undefined;
}

/** Topic filters on which the ingest hears device answers (system and custom). */
export const RESPONSE_FILTERS = ['/sys/+/+/rrpc/response/+', '/ext/rrpc/#'] as const;

/** Wraps a filter as an MQTT 5 / EMQX shared subscription: `$share/<group>/<filter>`. */
export function sharedFilter(group: string, filter: string): string {
  return `$share/${group}/${filter}`;
}

/** Device side: the filter a device subscribes to for system-topic RRPC requests. */
export function deviceRequestFilter(device: DeviceRef): string {
  return `/sys/${device.productKey}/${device.deviceName}/rrpc/request/+`;
}

/** Device side: the filter a device subscribes to for custom-topic RRPC requests on `customTopic`. */
export function deviceCustomRequestFilter(customTopic: string): string {
  return `/ext/rrpc/+${customTopic}`;
}

/** Device side: parses a request topic into the message ID and the topic to answer on. */
export function parseRequestTopic(topic: string): { messageId: string; responseTopic: string; kind: TopicKind } | undefined {
  const levels = topic.split('/');
  if (levels[1] === 'sys' && levels.length === 7 && levels[4] === 'rrpc' && levels[5] === 'request') {
    const messageId = levels[6];
    if (!isMessageId(messageId)) return undefined;
    return { messageId, kind: 'sys', responseTopic: levels.slice(0, 5).join('/') + `/response/${messageId}` };
  }
  if (levels[1] === 'ext' && levels[2] === 'rrpc') {
    const messageId = levels[3];
    if (!isMessageId(messageId)) return undefined;
    return { messageId, kind: 'ext', responseTopic: topic };
  }
  return undefined;
}
