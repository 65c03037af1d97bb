import { RrpcError, invalidArgument } from '@rrpc/errors';
import { checkCustomTopic, isDeviceName, isProductKey, type DeviceRef } from '@rrpc/topics';
import type { CallRequest } from '@rrpc/caller';

/** Checks the identifiers that will become part of a topic; nothing unchecked reaches the broker. */
export function deviceFrom(
  productKey: unknown,
  deviceName: unknown,
  names = { productKey: 'productKey', deviceName: 'deviceName' },
): DeviceRef {
  if (!isProductKey(productKey)) throw invalidArgument(names.productKey, 'must be 1-32 letters, digits, "_" or "-"');
  if (!isDeviceName(deviceName)) throw invalidArgument(names.deviceName, 'must be 4-32 letters, digits, "_", "-", "@", "." or ":"');
  return { productKey, deviceName };
}

export interface CallInput {
  device: DeviceRef;
  payload: Buffer;
  timeoutMs: number;
  topic: string | undefined;
  maxPayloadBytes: number;
  topicField?: string;
}

export function callRequest(input: CallInput): CallRequest {
  if (input.payload.length > input.maxPayloadBytes) {
    throw new RrpcError('PAYLOAD_TOO_LARGE', {
      message: `The payload is ${input.payload.length} bytes; the limit is ${input.maxPayloadBytes}.`,
    });
  }
  if (input.topic !== undefined) {
    const check = checkCustomTopic(input.topic, input.device);
    if (!check.ok) throw invalidArgument(input.topicField ?? 'topic', check.reason);
  }
  return { device: input.device, payload: input.payload, timeoutMs: input.timeoutMs, topic: input.topic };
}
