/**
 * Broker authorization rules: which topics a device, or the platform's own clients, may publish on and
 * subscribe to. Deny by default — a topic is allowed only when it parses as one of the RRPC shapes below
 * for exactly the identity asking. Only the wildcards listed here are ever allowed.
 *
 * Device `${dn}&${pk}`:
 *   subscribe  /sys/${pk}/${dn}/rrpc/request/+            (or one exact request topic)
 *              /ext/rrpc/+/${pk}/${dn}/user/<levels>       (or one exact message ID instead of '+')
 *   publish    /sys/${pk}/${dn}/rrpc/response/<messageId>
 *              /ext/rrpc/<messageId>/${pk}/${dn}/user/<levels>
 * Platform clients (api, response-ingest, worker):
 *   publish    any device's request topic (system or custom), exact (no wildcards)
 *   subscribe  the response filters, plain or as `$share/<group>/<filter>`
 */
import { isMessageId, parseUsername, type DeviceRef } from './identifiers.js';
import { RESPONSE_FILTERS, checkCustomTopic, parseResponseTopic } from './rrpc-topics.js';

export type BrokerAction = 'publish' | 'subscribe';

export type AuthorizationDecision = { allow: true; as: 'device' | 'service' } | { allow: false; reason: string };

export interface AuthorizationRequest {
  username: string | undefined;
  action: BrokerAction;
  topic: string;
  retain?: boolean;
}

export interface AuthorizationPolicy {
  /** MQTT username of the platform's own clients; undefined: no client is treated as the platform. */
  serviceUsername: string | undefined;
}

const SHARE_GROUP = /^[A-Za-z0-9_.-]{1,64}$/;
const MAX_TOPIC_LENGTH = 512;

function deny(reason: string): AuthorizationDecision {
  return { allow: false, reason };
}

/** Decides one broker authorization request. Never throws; anything unexpected is a deny. */
export function authorize(request: AuthorizationRequest, policy: AuthorizationPolicy): AuthorizationDecision {
  const { topic, action } = request;
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) return deny('topic missing or too long');
  if (topic.includes('\u0000')) return deny('topic contains NUL');
  if (action !== 'publish' && action !== 'subscribe') return deny('unknown action');
  if (action === 'publish' && request.retain === true) return deny('retained messages are not allowed');

  if (policy.serviceUsername !== undefined && request.username === policy.serviceUsername) {
    return serviceMayUse(action, topic) ? { allow: true, as: 'service' } : deny('topic is not a platform topic');
  }
  const device = parseUsername(request.username);
  if (device === undefined) return deny('username is not ${deviceName}&${productKey}');
  return deviceMayUse(device, action, topic) ? { allow: true, as: 'device' } : deny("topic is not one of this device's RRPC topics");
}

/** True when `device` may publish on / subscribe to `topic`. */
export function deviceMayUse(device: DeviceRef, action: BrokerAction, topic: string): boolean {
  const levels = topic.split('/');
  if (levels.some(isDotLevel)) return false;
  if (action === 'publish') {
    const parsed = parseResponseTopic(topic);
    return parsed !== undefined && parsed.productKey === device.productKey && parsed.deviceName === device.deviceName;
  }
  // subscribe: ['', 'sys', pk, dn, 'rrpc', 'request', '+' | id]
  if (levels[1] === 'sys') {
    return (
      levels.length === 7 &&
      levels[0] === '' &&
      levels[2] === device.productKey &&
      levels[3] === device.deviceName &&
      levels[4] === 'rrpc' &&
      levels[5] === 'request' &&
      (levels[6] === '+' || isMessageId(levels[6]))
    );
  }
  // ['', 'ext', 'rrpc', '+' | id, pk, dn, 'user', ...levels]
  if (levels[0] === '' && levels[1] === 'ext' && levels[2] === 'rrpc' && (levels[3] === '+' || isMessageId(levels[3]))) {
    const custom = '/' + levels.slice(4).join('/');
    return levels[4] === device.productKey && levels[5] === device.deviceName && checkCustomTopic(custom, device).ok;
  }
  return false;
}

/** True when a platform client may publish on / subscribe to `topic`. */
export function serviceMayUse(action: BrokerAction, topic: string): boolean {
  if (action === 'subscribe') {
    let filter = topic;
    if (topic.startsWith('$share/')) {
      const slash = topic.indexOf('/', 7);
      if (slash < 0 || !SHARE_GROUP.test(topic.slice(7, slash))) return false;
      filter = topic.slice(slash + 1);
    }
    return (RESPONSE_FILTERS as readonly string[]).includes(filter);
  }
  return isRequestTopic(topic);
}

/** An exact request topic for some device: `/sys/${pk}/${dn}/rrpc/request/<id>` or `/ext/rrpc/<id>/${pk}/${dn}/user/...`. */
function isRequestTopic(topic: string): boolean {
  const levels = topic.split('/');
  if (levels.some(isDotLevel)) return false;
  if (levels[1] === 'sys') {
    // A request topic has exactly the shape of a response topic with 'request' in place of 'response'.
    return (
      levels.length === 7 &&
      levels[5] === 'request' &&
      parseResponseTopic([...levels.slice(0, 5), 'response', levels[6]].join('/')) !== undefined
    );
  }
  // Custom topics: request and response travel on the same topic.
  return levels[1] === 'ext' && parseResponseTopic(topic)?.kind === 'ext';
}

/**
 * Levels made only of dots ('.', '..') are legal MQTT but look like path traversal to anything that maps
 * topics to paths downstream; RRPC never needs them, so the broker refuses them.
 */
function isDotLevel(level: string): boolean {
  return level.length > 0 && /^\.+$/.test(level);
}
