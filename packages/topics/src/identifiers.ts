/**
 * Identifier rules (Alibaba Cloud IoT's character sets). Anything that will become part of an MQTT topic
 * passes through here first: none of these patterns admits '/', '+', '#', NUL or whitespace.
 */
export interface DeviceRef {
  productKey: string;
  deviceName: string;
}

const PRODUCT_KEY = /^[A-Za-z0-9_-]{1,32}$/;
/** Alibaba: 4 to 32 characters; letters, digits, hyphens, underscores, at signs, periods and colons. */
const DEVICE_NAME = /^[A-Za-z0-9_\-@.:]{4,32}$/;
const MESSAGE_ID = /^[1-9][0-9]{0,18}$/;
const TOPIC_LEVEL = /^[A-Za-z0-9_\-.]{1,64}$/;
const MAX_INT64 = 9223372036854775807n;

export const MAX_CUSTOM_TOPIC_LEVELS = 8;

export function isProductKey(value: unknown): value is string {
  return typeof value === 'string' && PRODUCT_KEY.test(value);
}

export function isDeviceName(value: unknown): value is string {
  return typeof value === 'string' && DEVICE_NAME.test(value);
}

/** A message ID: decimal digits of a positive signed 64-bit integer, never routed through a JS number. */
export function isMessageId(value: unknown): value is string {
  if (typeof value !== 'string' || !MESSAGE_ID.test(value)) return false;
  return value.length < 19 || BigInt(value) <= MAX_INT64;
}

/** A custom topic level: letters, digits, "_", "-", "."; never "." or ".." alone (no path games). */
export function isTopicLevel(value: string): boolean {
  return TOPIC_LEVEL.test(value) && value !== '.' && value !== '..';
}

/** "pk/dn": the device's id inside the cluster (Redis records, logs). */
export function deviceId(device: DeviceRef): string {
  return `${device.productKey}/${device.deviceName}`;
}

/** Reads the device identity from an MQTT username of the form `${deviceName}&${productKey}`. */
export function parseUsername(username: unknown): DeviceRef | undefined {
  if (typeof username !== 'string') return undefined;
  const at = username.indexOf('&');
  if (at < 0 || username.indexOf('&', at + 1) >= 0) return undefined;
  const deviceName = username.slice(0, at);
  const productKey = username.slice(at + 1);
  return isDeviceName(deviceName) && isProductKey(productKey) ? { productKey, deviceName } : undefined;
}

export function formatUsername(device: DeviceRef): string {
  return `${device.deviceName}&${device.productKey}`;
}

export interface ClientIdParts {
  id: string;
  params: Record<string, string>;
  /** `ext=1`: the device supports RRPC on custom topics. */
  ext: boolean;
}

/** Parses Alibaba's `${id}|securemode=3,signmethod=hmacsha1,timestamp=...|` client ID. */
export function parseClientId(clientId: string): ClientIdParts {
  const bar = clientId.indexOf('|');
  if (bar < 0 || !clientId.endsWith('|') || bar === clientId.length - 1) {
    return { id: clientId, params: {}, ext: false };
  }
  const params: Record<string, string> = {};
  for (const pair of clientId.slice(bar + 1, -1).split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) params[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { id: clientId.slice(0, bar), params, ext: params['ext'] === '1' };
}

export function formatClientId(id: string, params: Record<string, string>): string {
  const body = Object.entries(params)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${id}|${body}|`;
}
