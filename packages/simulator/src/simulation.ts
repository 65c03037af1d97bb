/**
 * Many simulated devices in one process: each a device-SDK connection of its own, connected at a bounded
 * rate, answering with the chosen behaviour, optionally flapping, optionally playing EMQX's presence
 * webhooks. One timer for connecting and one for flapping, whatever the number of devices.
 */
import type { Socket } from 'node:net';
import { createDevice, type RrpcDevice, type SignMethod } from '@rrpc/device-sdk';
import { deviceCustomRequestFilter, deviceRequestFilter, formatUsername, isDeviceName, isProductKey } from '@rrpc/topics';
import { behaviourHandler, checkBehaviour, SimulatorOptionError, type Behaviour, type HandlerCounters } from './behaviour.js';
import { emqxConnected, emqxDisconnected, emqxSubscription, WebhookSender } from './emqx-webhooks.js';

export interface SimulationOptions {
  /** Broker URL. */
  url: string;
  productKey: string;
  /** How many devices. */
  devices: number;
  /** Device names are `${prefix}${index}`, the index zero-padded to 4 digits or more (default prefix "sim-"). */
  prefix?: string;
  /** Index of the first device (default 1). */
  firstIndex?: number;
  deviceSecret?: string;
  /** Each device's own secret, by device name (registered devices); overrides deviceSecret. */
  deviceSecrets?: ReadonlyMap<string, string>;
  signMethod?: SignMethod;
  protocolVersion?: 4 | 5;
  /** MQTT keepalive in seconds (default 60). */
  keepalive?: number;
  behaviour: Behaviour;
  /** Custom topics (`user/...`) every device also answers on, with the same behaviour. */
  customTopics?: string[];
  /** New connections per second (default 200). */
  connectRate?: number;
  /** Each device drops its connection every N seconds and comes back a second later. */
  flapEverySeconds?: number;
  /** Pause between automatic reconnects after a lost connection (default 1000 ms). */
  reconnectPeriodMs?: number;
  /** Post EMQX 5 presence webhooks here for every connect and disconnect (for brokers that send none). */
  webhook?: { url: string; token?: string | undefined };
  /** For reproducible runs. */
  random?: () => number;
  /** Device errors (handler failures, refused connections); they are counted either way. */
  onError?: (error: Error, deviceName: string) => void;
}

export interface SimulationStats extends HandlerCounters {
  devices: number;
  connected: number;
  connects: number;
  disconnects: number;
  connectFailures: number;
  errors: number;
  webhooksSent: number;
  webhooksFailed: number;
}

export interface SimulatedDevice {
  deviceName: string;
  device: RrpcDevice;
}

export interface Simulation {
  readonly productKey: string;
  readonly devices: readonly SimulatedDevice[];
  stats(): SimulationStats;
  /** Disconnects every device (posting the disconnected webhooks) and stops the timers. */
  stop(): Promise<void>;
}

interface DeviceState extends SimulatedDevice {
  index: number;
  online: boolean;
  session: { clientId: string; connectedAt: number; peername: string; sockname: string } | undefined;
}

/** `${prefix}${index}` with the index zero-padded to the width of the largest index (at least 4). */
export function simulatedDeviceNames(prefix: string, count: number, firstIndex = 1): string[] {
  const width = Math.max(4, String(firstIndex + count - 1).length);
  return Array.from({ length: count }, (_, i) => `${prefix}${String(firstIndex + i).padStart(width, '0')}`);
}

function address(host: string | undefined, port: number | undefined): string {
  return `${host ?? '127.0.0.1'}:${port ?? 0}`;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startSimulation(options: SimulationOptions): Promise<Simulation> {
  if (!isProductKey(options.productKey))
    throw new SimulatorOptionError(`product key "${String(options.productKey)}": 1-32 letters, digits, "_" or "-"`);
  if (!Number.isInteger(options.devices) || options.devices < 1) throw new SimulatorOptionError('devices: a whole number >= 1');
  const rate = options.connectRate ?? 200;
  if (!(rate > 0)) throw new SimulatorOptionError('connect rate: a number of connections per second > 0');
  const flap = options.flapEverySeconds;
  if (flap !== undefined && !(Number.isInteger(flap) && flap >= 2)) throw new SimulatorOptionError('flap: a whole number of seconds >= 2');
  checkBehaviour(options.behaviour);
  const names = simulatedDeviceNames(options.prefix ?? 'sim-', options.devices, options.firstIndex ?? 1);
  const badName = names.find((n) => !isDeviceName(n));
  if (badName !== undefined)
    throw new SimulatorOptionError(`device name "${String(badName)}": 4-32 letters, digits, "_", "-", "@", "." or ":" (change --prefix)`);

  const counters: HandlerCounters = { requests: 0, answers: 0, errorAnswers: 0, unanswered: 0, traced: 0 };
  const stats = { connected: 0, connects: 0, disconnects: 0, connectFailures: 0, errors: 0 };
  const handler = behaviourHandler(options.behaviour, counters, options.random);
  const protoVer = options.protocolVersion ?? 4;
  const keepalive = options.keepalive ?? 60;
  const webhooks = options.webhook ? new WebhookSender({ url: options.webhook.url, token: options.webhook.token }) : undefined;
  let stopped = false;

  const wentOffline = (state: DeviceState, reason: string) => {
    if (!state.online) return;
    state.online = false;
    stats.connected--;
    stats.disconnects++;
    const session = state.session;
    if (webhooks && session) {
      const username = formatUsername({ productKey: options.productKey, deviceName: state.deviceName });
      void webhooks.send(state.deviceName, emqxDisconnected({ ...session, username, reason, disconnectedAt: Date.now(), protoVer }));
    }
  };

  const states: DeviceState[] = [];
  for (const [index, deviceName] of names.entries()) {
    const deviceSecret = options.deviceSecrets?.get(deviceName) ?? options.deviceSecret;
    const device = createDevice({
      url: options.url,
      productKey: options.productKey,
      deviceName,
      ...(deviceSecret !== undefined ? { deviceSecret } : {}),
      ...(options.signMethod !== undefined ? { signMethod: options.signMethod } : {}),
      protocolVersion: protoVer,
      keepalive,
      reconnectPeriodMs: options.reconnectPeriodMs ?? 1000,
      ext: (options.customTopics?.length ?? 0) > 0,
    });
    const state: DeviceState = { index, deviceName, device, online: false, session: undefined };
    await device.onRrpc(handler);
    for (const topic of options.customTopics ?? []) await device.onRrpc(topic, handler);
    device.on('connect', () => {
      const stream = device.client?.stream as Partial<Socket> | undefined;
      state.session = {
        clientId: device.clientId ?? deviceName,
        connectedAt: Date.now(),
        peername: address(stream?.localAddress, stream?.localPort),
        sockname: address(stream?.remoteAddress, stream?.remotePort),
      };
      if (!state.online) stats.connected++;
      state.online = true;
      stats.connects++;
      if (webhooks) {
        const username = formatUsername({ productKey: options.productKey, deviceName });
        void webhooks.send(deviceName, emqxConnected({ ...state.session, username, keepalive, protoVer }));
        // The device subscribes its request filters right after CONNACK (EMQX: one session.subscribed each).
        const filters = [
          deviceRequestFilter({ productKey: options.productKey, deviceName }),
          ...(options.customTopics ?? []).map((t) =>
            deviceCustomRequestFilter(t.startsWith('/') ? t : `/${options.productKey}/${deviceName}/${t}`),
          ),
        ];
        const peerhost = state.session.peername.replace(/:[0-9]+$/, '');
        for (const topic of filters) {
          void webhooks.send(
            deviceName,
            emqxSubscription('subscribed', { clientId: state.session.clientId, username, topic, qos: 0, at: Date.now(), peerhost }),
          );
        }
      }
    });
    device.on('offline', () => wentOffline(state, 'sock_closed'));
    device.on('error', (error) => {
      stats.errors++;
      options.onError?.(error, deviceName);
    });
    states.push(state);
  }

  const connect = (state: DeviceState) =>
    state.device.connect().catch((error: unknown) => {
      if (stopped) return; // stop() ended the attempt
      stats.connectFailures++;
      options.onError?.(error instanceof Error ? error : new Error(String(error)), state.deviceName);
    });
  const disconnect = async (state: DeviceState) => {
    wentOffline(state, 'normal');
    await state.device.disconnect();
  };

  // Connect at the chosen rate: one sleep at a time, never a timer per device.
  const started = Date.now();
  const connecting: Array<Promise<void>> = [];
  for (const state of states) {
    const wait = started + (state.index / rate) * 1000 - Date.now();
    if (wait > 0) await sleep(wait);
    connecting.push(connect(state));
  }
  await Promise.all(connecting);

  // Flapping: every second one N-th of the devices drops its connection; they come back on the next tick.
  let flapTimer: NodeJS.Timeout | undefined;
  if (flap !== undefined) {
    let tick = 0;
    let down: DeviceState[] = [];
    flapTimer = setInterval(() => {
      for (const state of down) void connect(state);
      down = states.filter((s) => s.index % flap === tick % flap && s.online);
      for (const state of down) void disconnect(state);
      tick++;
    }, 1000);
  }

  return {
    productKey: options.productKey,
    devices: states.map(({ deviceName, device }) => ({ deviceName, device })),
    stats: () => ({
      devices: states.length,
      ...stats,
      ...counters,
      webhooksSent: webhooks?.sent ?? 0,
      webhooksFailed: webhooks?.failed ?? 0,
    }),
    async stop() {
      if (stopped) return;
      stopped = true;
      if (flapTimer) clearInterval(flapTimer);
      await Promise.all(states.map(disconnect));
      await webhooks?.flush();
    },
  };
}
