import express, { Router, type Request, type Response } from 'express';
import { generateDeviceName, generateDeviceSecret } from '@rrpc/crypto';
import { RrpcError, invalidArgument, type ErrorCode } from '@rrpc/errors';
import type { DeviceRecord, DeviceRegistry, NewDevice, PresenceStore, PresenceView } from '@rrpc/store';
import { isDeviceName, isProductKey, type DeviceRef } from '@rrpc/topics';
import type { ZodType } from 'zod';
import { deviceFrom } from '../call-input.js';
import { mayUseProduct, principalOf, productScope } from '../request-principal.js';
import {
  REGISTRY_LIMITS,
  deviceCreateBody,
  deviceImportBody,
  deviceImportItem,
  deviceListQuery,
  deviceUpdateBody,
  firstIssue,
} from '../schemas.js';

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** A filtered list page reads at most this many registered devices (bounded work whatever matches). */
export const FILTERED_PAGE_WINDOW = 1000;

export interface DeviceRoutesOptions {
  presence: PresenceStore;
  /** Undefined when the cluster has no secrets key (RRPC_DEVICE_REGISTRY=off without RRPC_SECRETS_KEY). */
  registry: DeviceRegistry | undefined;
  /** RRPC_DEVICE_REGISTRY=on: a device that is not registered does not exist (404 DEVICE_NOT_FOUND). */
  registryOn: boolean;
}

/** A device as the API shows it: registry fields and presence; never its secret. */
export function deviceView(record: DeviceRecord | undefined, view: PresenceView | undefined, device: DeviceRef) {
  return {
    productKey: device.productKey,
    deviceName: device.deviceName,
    status: view?.status ?? 'UNACTIVE',
    clientId: view?.clientId,
    connectedAt: iso(view?.connectedAt),
    disconnectedAt: iso(view?.disconnectedAt),
    keepaliveSeconds: view?.keepaliveSeconds,
    lastDisconnectReason: view?.lastDisconnectReason,
    ...(view ? { subscriptions: view.subscriptions } : {}),
    ...(record ? { enabled: record.enabled, createdAt: iso(record.createdAt) } : {}),
  };
}

function parse<T>(schema: ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const { field, message } = firstIssue(parsed.error);
    throw invalidArgument(field, message);
  }
  return parsed.data;
}

function requireJson(req: Request): void {
  if (!req.is('application/json')) throw new RrpcError('UNSUPPORTED_MEDIA_TYPE', { message: 'Use Content-Type application/json.' });
}

const notRegistered = (d: DeviceRef) =>
  new RrpcError('DEVICE_NOT_FOUND', { message: `No device ${d.productKey}/${d.deviceName} is registered.` });
const denied = (productKey: string) =>
  new RrpcError('PERMISSION_DENIED', { message: `This API key may not manage devices of product ${productKey}.` });

/**
 * The device registry's routes (register, import, read, list, enable/disable, rotate the secret, delete) and a
 * device's view. Every route is scoped to the API key's products. Secrets leave only in the answers of
 * register and rotate (the new secret); stored secrets are never read here.
 */
export function deviceRoutes(options: DeviceRoutesOptions): Router {
  const router = Router();
  const { presence, registryOn } = options;
  const json = express.json({ limit: '64kb', strict: true, type: 'application/json' });
  // 10,000 entries of at most ~240 bytes each (32 + 32 + 128 characters and the field names).
  const importJson = express.json({ limit: REGISTRY_LIMITS.maxImport * 256 + 8192, strict: true, type: 'application/json' });
  const registry = (): DeviceRegistry => {
    if (!options.registry)
      throw new RrpcError('NOT_FOUND', {
        message: 'This cluster runs without a device registry (RRPC_DEVICE_REGISTRY=off and no RRPC_SECRETS_KEY).',
      });
    return options.registry;
  };
  const device = (req: Request) => deviceFrom(req.params['productKey'], req.params['deviceName']);
  const viewOf = async (d: DeviceRef, record: DeviceRecord) => deviceView(record, await presence.get(d), d);

  router.post('/v1/devices', json, async (req: Request, res: Response) => {
    requireJson(req);
    const body = parse(deviceCreateBody, req.body);
    const d = deviceFrom(body.productKey, body.deviceName ?? generateDeviceName());
    if (!mayUseProduct(principalOf(res), d.productKey)) throw denied(d.productKey);
    const secret = body.deviceSecret ?? generateDeviceSecret();
    const now = Date.now();
    if ((await registry().create(d, secret, now)) === 'exists') {
      throw new RrpcError('DEVICE_EXISTS', { message: `Device ${d.productKey}/${d.deviceName} is registered already.` });
    }
    res.status(201).set('Location', `/v1/devices/${d.productKey}/${d.deviceName}`);
    res.json({ productKey: d.productKey, deviceName: d.deviceName, deviceSecret: secret, enabled: true, createdAt: iso(now) });
  });

  router.post('/v1/devices/import', importJson, async (req: Request, res: Response) => {
    requireJson(req);
    const body = parse(deviceImportBody, req.body);
    const principal = principalOf(res);
    const failed: Array<{ index: number; error: { code: ErrorCode; message: string } }> = [];
    const fail = (index: number, code: ErrorCode, message: string) => failed.push({ index, error: { code, message } });
    const accepted: NewDevice[] = [];
    body.devices.forEach((entry, index) => {
      const item = deviceImportItem.safeParse(entry);
      if (!item.success) {
        const { field, message } = firstIssue(item.error);
        return fail(index, 'INVALID_ARGUMENT', `devices.${index}${field === 'body' ? '' : `.${field}`}: ${message}`);
      }
      const { productKey, deviceName, deviceSecret } = item.data;
      if (!isProductKey(productKey))
        return fail(index, 'INVALID_ARGUMENT', `devices.${index}.productKey: must be 1-32 letters, digits, "_" or "-"`);
      if (!isDeviceName(deviceName))
        return fail(index, 'INVALID_ARGUMENT', `devices.${index}.deviceName: must be 4-32 letters, digits, "_", "-", "@", "." or ":"`);
      if (!mayUseProduct(principal, productKey))
        return fail(index, 'PERMISSION_DENIED', `This API key may not manage devices of product ${productKey}.`);
      accepted.push({ device: { productKey, deviceName }, secret: deviceSecret });
    });
    const results = await registry().createMany(accepted);
    const created = results.filter((r) => r === 'created').length;
    res.json({ created, existing: results.length - created, failed: failed.sort((a, b) => a.index - b.index) });
  });

  router.get('/v1/devices/:productKey/:deviceName', productScope, async (req: Request, res: Response) => {
    const d = device(req);
    if (registryOn || options.registry) {
      const [record, view] = await Promise.all([options.registry?.get(d), presence.get(d)]);
      if (record) return res.json(deviceView(record, view, d));
      if (registryOn) throw notRegistered(d);
      if (view) return res.json(deviceView(undefined, view, d));
    } else {
      const view = await presence.get(d);
      if (view) return res.json(deviceView(undefined, view, d));
    }
    throw new RrpcError('NOT_FOUND', { message: `Device ${d.productKey}/${d.deviceName} has never connected.` });
  });

  router.patch('/v1/devices/:productKey/:deviceName', productScope, json, async (req: Request, res: Response) => {
    const d = device(req);
    requireJson(req);
    const body = parse(deviceUpdateBody, req.body);
    if (!(await registry().setEnabled(d, body.enabled))) throw notRegistered(d);
    const record = await registry().get(d);
    if (!record) throw notRegistered(d); // deleted in between
    res.json(await viewOf(d, record));
  });

  router.post('/v1/devices/:productKey/:deviceName/secret', productScope, async (req: Request, res: Response) => {
    const d = device(req);
    const secret = generateDeviceSecret();
    if (!(await registry().replaceSecret(d, secret))) throw notRegistered(d);
    res.json({ deviceSecret: secret });
  });

  router.delete('/v1/devices/:productKey/:deviceName', productScope, async (req: Request, res: Response) => {
    const d = device(req);
    if (!(await registry().delete(d))) throw notRegistered(d);
    res.status(204).end();
  });

  router.get('/v1/products/:productKey/devices', productScope, async (req: Request, res: Response) => {
    const productKey = req.params['productKey'];
    if (!isProductKey(productKey)) throw invalidArgument('productKey', 'must be 1-32 letters, digits, "_" or "-"');
    const query = parse(deviceListQuery, req.query);
    if (query.cursor !== undefined && !isDeviceName(query.cursor))
      throw invalidArgument('cursor', 'must be the nextCursor of a previous page');
    // Unfiltered: exactly one page of names. Filtered: a bounded window, of which the matching devices are kept.
    const window = query.status === undefined ? query.limit : Math.max(query.limit, FILTERED_PAGE_WINDOW);
    const page = await registry().list(productKey, { cursor: query.cursor, limit: window });
    const views = await Promise.all(page.devices.map((r) => presence.get(r)));
    const devices: Array<ReturnType<typeof deviceView>> = [];
    let nextCursor = page.nextCursor;
    for (const [i, record] of page.devices.entries()) {
      const view = deviceView(record, views[i], record);
      if (query.status !== undefined && view.status !== query.status && !(query.status === 'OFFLINE' && view.status === 'HALFCONN'))
        continue;
      devices.push(view);
      if (devices.length === query.limit) {
        if (i < page.devices.length - 1 || page.nextCursor !== null) nextCursor = record.deviceName;
        break;
      }
    }
    res.json({ devices, nextCursor });
  });

  return router;
}
