import { RrpcError } from '@rrpc/errors';
import type { DeviceRegistry } from '@rrpc/store';
import type { DeviceRef } from '@rrpc/topics';

/**
 * Refuses work for a device that is not registered (404 DEVICE_NOT_FOUND) or disabled (403 DEVICE_DISABLED)
 * while the registry is on (undefined registry: RRPC_DEVICE_REGISTRY=off, nothing to check). Calls check this
 * inside call-begin; routes that only queue work (jobs) check it here, before anything is queued.
 */
export async function requireCallable(registry: DeviceRegistry | undefined, device: DeviceRef): Promise<void> {
  if (!registry) return;
  const record = await registry.get(device);
  if (!record) throw new RrpcError('DEVICE_NOT_FOUND', { message: `No device ${device.productKey}/${device.deviceName} is registered.` });
  if (!record.enabled) throw new RrpcError('DEVICE_DISABLED', { message: `Device ${device.productKey}/${device.deviceName} is disabled.` });
}
