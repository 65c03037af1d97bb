import { generateDeviceName, generateDeviceSecret } from '@rrpc/crypto';
import { RrpcError, invalidArgument } from '@rrpc/errors';
import type { DeviceRecord, DeviceRegistry, PresenceStore, PresenceView } from '@rrpc/store';
import type { DeviceRef } from '@rrpc/topics';
import type { ZodType } from 'zod';
import { deviceFrom } from '../call-input.js';
import type { Principal } from '../api-keys.js';
import { mayUseProduct } from '../request-principal.js';
import { ALIYUN_DEVICE_ACTIONS, aliyunBatchGetDeviceState, aliyunDevice, aliyunRegisterDevice, firstIssue } from '../schemas.js';

export type AliyunDeviceAction = (typeof ALIYUN_DEVICE_ACTIONS)[number];

/** What an action adds to `{"RequestId","Success":true}`. */
export type AliyunFields = Record<string, unknown>;

export function isAliyunDeviceAction(action: unknown): action is AliyunDeviceAction {
  return typeof action === 'string' && (ALIYUN_DEVICE_ACTIONS as readonly string[]).includes(action);
}

const ALIYUN_FIELDS = { productKey: 'ProductKey', deviceName: 'DeviceName' };

function parse<T>(schema: ZodType<T>, params: Record<string, unknown>): T {
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    throw new RrpcError('INVALID_ARGUMENT', { field, message: `${field}: ${message}` });
  }
  return parsed.data;
}

/** Alibaba's repeated parameter `Name.N` (form or query: Name.1, Name.2, ...), or a JSON array under `Name`. */
export function repeatList(params: Record<string, unknown>, name: string): unknown {
  if (Array.isArray(params[name])) return params[name];
  const numbered = Object.keys(params)
    .map((key) => ({ key, n: new RegExp(`^${name}\\.([1-9][0-9]{0,3})$`).exec(key)?.[1] }))
    .filter((e): e is { key: string; n: string } => e.n !== undefined)
    .sort((a, b) => Number(a.n) - Number(b.n));
  return numbered.length > 0 ? numbered.map((e) => params[e.key]) : undefined;
}

/** Alibaba's device states: ONLINE, OFFLINE, UNACTIVE (never connected), DISABLE. HALFCONN counts as OFFLINE. */
function aliyunStatus(record: DeviceRecord, view: PresenceView | undefined): 'ONLINE' | 'OFFLINE' | 'UNACTIVE' | 'DISABLE' {
  if (!record.enabled) return 'DISABLE';
  if (!view) return 'UNACTIVE';
  return view.status === 'ONLINE' ? 'ONLINE' : 'OFFLINE';
}

/** Alibaba's "GMT" time format, "2018-08-06 10:47:50" (here in UTC), and its UTC form (ISO 8601). */
const gmt = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString().slice(0, 19).replace('T', ' '));
const utc = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

export interface AliyunDeviceDeps {
  registry: DeviceRegistry | undefined;
  presence: PresenceStore;
}

/**
 * Alibaba Cloud IoT's device management actions (RegisterDevice, QueryDeviceDetail, GetDeviceStatus,
 * BatchGetDeviceState, DeleteDevice, DisableThing, EnableThing) over the device registry, with Alibaba's
 * parameter and field names. Devices are named by ProductKey and DeviceName (IotId is not supported), and no
 * answer carries a stored secret: QueryDeviceDetail has no DeviceSecret, RegisterDevice shows the new one.
 */
export function aliyunDeviceActions(deps: AliyunDeviceDeps) {
  const registry = (): DeviceRegistry => {
    if (!deps.registry)
      throw new RrpcError('NOT_FOUND', {
        message: 'This cluster runs without a device registry (RRPC_DEVICE_REGISTRY=off and no RRPC_SECRETS_KEY).',
      });
    return deps.registry;
  };
  const scoped = (principal: Principal | undefined, productKey: string) => {
    if (!mayUseProduct(principal, productKey))
      throw new RrpcError('PERMISSION_DENIED', { message: `This AccessKey may not manage devices of product ${productKey}.` });
  };
  const named = (params: Record<string, unknown>, principal: Principal | undefined): DeviceRef => {
    if (params['IotId'] !== undefined && params['ProductKey'] === undefined)
      throw invalidArgument('IotId', 'IotId is not supported: name the device by ProductKey and DeviceName');
    const p = parse(aliyunDevice, params);
    const device = deviceFrom(p.ProductKey, p.DeviceName, ALIYUN_FIELDS);
    scoped(principal, device.productKey);
    return device;
  };
  const recordOf = async (device: DeviceRef): Promise<DeviceRecord> => {
    const record = await registry().get(device);
    if (!record)
      throw new RrpcError('DEVICE_NOT_FOUND', {
        message: `The specified device ${device.productKey}/${device.deviceName} does not exist.`,
      });
    return record;
  };
  const setEnabled = async (params: Record<string, unknown>, principal: Principal | undefined, enabled: boolean): Promise<AliyunFields> => {
    const device = named(params, principal);
    if (!(await registry().setEnabled(device, enabled))) await recordOf(device);
    return {};
  };

  const actions: Record<AliyunDeviceAction, (params: Record<string, unknown>, principal: Principal | undefined) => Promise<AliyunFields>> =
    {
      async RegisterDevice(params, principal) {
        const p = parse(aliyunRegisterDevice, params);
        const device = deviceFrom(p.ProductKey, p.DeviceName ?? generateDeviceName(), ALIYUN_FIELDS);
        scoped(principal, device.productKey);
        const secret = generateDeviceSecret();
        if ((await registry().create(device, secret)) === 'exists') {
          throw new RrpcError('DEVICE_EXISTS', {
            message: `The device name ${device.deviceName} already exists in product ${device.productKey}.`,
          });
        }
        return { Data: { ProductKey: device.productKey, DeviceName: device.deviceName, DeviceSecret: secret } };
      },
      async QueryDeviceDetail(params, principal) {
        const device = named(params, principal);
        const [record, view] = await Promise.all([recordOf(device), deps.presence.get(device)]);
        return {
          Data: {
            ProductKey: device.productKey,
            DeviceName: device.deviceName,
            Status: aliyunStatus(record, view),
            GmtCreate: gmt(record.createdAt),
            UtcCreate: utc(record.createdAt),
            GmtOnline: gmt(view?.connectedAt),
            UtcOnline: utc(view?.connectedAt),
          },
        };
      },
      async GetDeviceStatus(params, principal) {
        const device = named(params, principal);
        const [record, view] = await Promise.all([recordOf(device), deps.presence.get(device)]);
        return { Data: { Status: aliyunStatus(record, view) } };
      },
      async BatchGetDeviceState(params, principal) {
        const p = parse(aliyunBatchGetDeviceState, { ...params, DeviceName: repeatList(params, 'DeviceName') });
        const devices = p.DeviceName.map((deviceName, i) =>
          deviceFrom(p.ProductKey, deviceName, { productKey: 'ProductKey', deviceName: `DeviceName.${i + 1}` }),
        );
        scoped(principal, p.ProductKey);
        const [records, views] = await Promise.all([registry().getMany(devices), Promise.all(devices.map((d) => deps.presence.get(d)))]);
        // Devices that are not registered are left out, as Alibaba lists only devices it knows.
        const states = devices.flatMap((device, i) => {
          const record = records[i];
          if (!record) return [];
          const view = views[i];
          const changedAt = view ? (view.status === 'ONLINE' ? view.connectedAt : (view.disconnectedAt ?? view.connectedAt)) : undefined;
          return [
            {
              DeviceName: device.deviceName,
              Status: aliyunStatus(record, view),
              LastOnlineTime: gmt(view?.connectedAt),
              Timestamp: changedAt,
            },
          ];
        });
        return { DeviceStatusList: { DeviceStatus: states } };
      },
      async DeleteDevice(params, principal) {
        const device = named(params, principal);
        if (!(await registry().delete(device))) await recordOf(device);
        return {};
      },
      DisableThing: (params, principal) => setEnabled(params, principal, false),
      EnableThing: (params, principal) => setEnabled(params, principal, true),
    };
  return actions;
}
