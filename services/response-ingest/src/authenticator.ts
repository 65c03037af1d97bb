/**
 * Broker authentication decisions (POST /authn/emqx). A device logs in the Alibaba way: username
 * `${deviceName}&${productKey}`, an Alibaba client ID, and the HMAC of both under its registered secret
 * (@rrpc/crypto's verifier). The platform's own clients log in as `serviceUsername` with the platform
 * password (MQTT_PASSWORD); without a configured password nobody logs in as the platform.
 *
 * Never throws for anything a client sent: malformed input is a deny. Secrets, passwords and usernames
 * are never logged or counted; metrics carry the result and a reason from a fixed list.
 */
import { MAX_CLIENT_ID_LENGTH, parseDeviceClientId, secretEquals, verifyDevicePassword } from '@rrpc/crypto';
import type { AuthnReason, AuthnResult } from '@rrpc/metrics';
import type { DeviceRegistry } from '@rrpc/store';
import { deviceAcl, parseUsername, platformAcl, type AclRule } from '@rrpc/topics';

/** Longest accepted username and password (an Alibaba password is at most 64 hex digits). */
export const MAX_USERNAME_LENGTH = 128;
export const MAX_PASSWORD_LENGTH = 256;

export interface AuthnRequest {
  clientid?: unknown;
  username?: unknown;
  password?: unknown;
  peerhost?: unknown;
}

export interface AuthnDecision {
  result: AuthnResult;
  reason: AuthnReason;
  /** On allow: the client's ACL (EMQX 5.8 checks it before every authorization source). */
  acl?: AclRule[];
}

export interface AuthenticatorOptions {
  /** The device registry; undefined when RRPC_DEVICE_REGISTRY=off (devices are then `ignore`d). */
  registry: DeviceRegistry | undefined;
  /** MQTT username of the platform's own clients. */
  serviceUsername: string | undefined;
  /** The platform's MQTT password (MQTT_PASSWORD); undefined: nobody may log in as the platform. */
  servicePassword: string | undefined;
  /** The shared-subscription group of the platform's ACL (the namespace). */
  shareGroup: string;
  /** Registry read failures and unopenable secrets (never client input). */
  onError?: (error: unknown) => void;
}

const deny = (reason: AuthnReason): AuthnDecision => ({ result: 'deny', reason });

function bounded(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= max;
}

export class Authenticator {
  private readonly platformRules: AclRule[];

  constructor(private readonly options: AuthenticatorOptions) {
    this.platformRules = platformAcl(options.shareGroup);
  }

  async decide(request: AuthnRequest): Promise<AuthnDecision> {
    const { clientid, username, password } = request;
    if (!bounded(clientid, MAX_CLIENT_ID_LENGTH) || !bounded(username, MAX_USERNAME_LENGTH)) return deny('malformed');
    if (password !== undefined && password !== null && (typeof password !== 'string' || password.length > MAX_PASSWORD_LENGTH))
      return deny('malformed');

    const { serviceUsername, servicePassword } = this.options;
    if (serviceUsername !== undefined && username === serviceUsername) {
      if (servicePassword === undefined || servicePassword === '') return deny('platform_no_password');
      return secretEquals(password, servicePassword)
        ? { result: 'allow', reason: 'platform', acl: this.platformRules }
        : deny('bad_password');
    }

    const device = parseUsername(username);
    if (device === undefined) return deny('bad_username');
    const parsed = parseDeviceClientId(clientid);
    if (parsed === undefined) return deny('bad_client_id');
    const registry = this.options.registry;
    if (registry === undefined) return { result: 'ignore', reason: 'registry_off' };

    let credentials: Awaited<ReturnType<DeviceRegistry['credentials']>>;
    try {
      credentials = await registry.credentials(device);
    } catch (error) {
      this.options.onError?.(error);
      return deny('error');
    }
    if (credentials === undefined) return deny('unknown_device');
    if (!credentials.record.enabled) return deny('disabled');
    const ok = verifyDevicePassword({
      clientId: parsed,
      productKey: device.productKey,
      deviceName: device.deviceName,
      deviceSecret: credentials.secret,
      password,
    });
    return ok ? { result: 'allow', reason: 'device', acl: deviceAcl(device) } : deny('bad_signature');
  }
}
