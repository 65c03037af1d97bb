import { RrpcError } from '@rrpc/errors';

/** The caller's refusal of a device that is not registered or is disabled (call-begin; nothing was published). */
export function isRegistryRefusal(error: unknown): error is RrpcError & { code: 'DEVICE_NOT_FOUND' | 'DEVICE_DISABLED' } {
  return error instanceof RrpcError && (error.code === 'DEVICE_NOT_FOUND' || error.code === 'DEVICE_DISABLED');
}
