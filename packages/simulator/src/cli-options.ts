/** rrpc-sim's command line: argv → simulation options, and the help text. */
import { parseArgs } from 'node:util';
import { isSignMethod } from '@rrpc/device-sdk';
import { parseDelay, SimulatorOptionError, type ErrorMode, type ReplyMode } from './behaviour.js';
import type { SimulationOptions } from './simulation.js';

export const HELP = `rrpc-sim: connects simulated RRPC devices that answer synchronous calls.

Usage: rrpc-sim [options]

Devices
  --url URL               broker URL (default: $MQTT_URL, else mqtt://127.0.0.1:1883)
  --product-key KEY       product key of every device (default: simProduct)
  -n, --devices N         number of devices (default: 10)
  --prefix TEXT           device names are TEXT0001, TEXT0002, ... (default: sim-)
  --first-index N         index of the first device (default: 1)
  --secret SECRET         device secret: sign the MQTT password the Alibaba way (securemode=3)
  --secrets FILE          each device's own secret, CSV lines productKey,deviceName,deviceSecret
                          (registered devices; overrides --secret for the devices it lists)
  --register API_URL      register the devices first (POST /v1/devices/import), each with a new secret
  --api-key KEY           API key for --register (default: $RRPC_API_KEY)
  --sign-method METHOD    hmacsha1 | hmacsha256 | hmacmd5 (default: hmacsha1)
  --protocol 4|5          MQTT 3.1.1 (4, default) or MQTT 5
  --keepalive SECONDS     MQTT keepalive (default: 60)
  --connect-rate N        new connections per second (default: 200)

Behaviour
  --reply MODE            echo (default) | fixed | silent
  --reply-payload TEXT    the answer for --reply fixed
  --delay DELAY           answer after MS, uniform:MIN-MAX or exp:MEAN milliseconds (default: at once)
  --error-rate R          share of requests that fail, 0..1 (default: 0)
  --error-mode MODE       a failed request gets: silent (no answer, default) | payload (--error-payload)
  --error-payload TEXT    default: {"error":"simulated device error"}
  --custom-topic TOPIC    also answer on this custom topic, e.g. user/get (repeatable; connects with ext=1)
  --flap SECONDS          each device drops its connection every SECONDS and is back a second later

Presence webhooks (for brokers that send none, such as Mosquitto)
  --webhook-url URL       post EMQX 5 client.connected / client.disconnected webhooks here,
                          e.g. http://127.0.0.1:8081/hooks/emqx
  --webhook-token TOKEN   bearer token for them (default: $RRPC_WEBHOOK_TOKEN)

Run
  --stats-interval SEC    print counters every SEC seconds (default: 5; 0: never)
  --duration SEC          stop after SEC seconds (default: run until Ctrl-C)
  -h, --help              show this help

Example
  rrpc-sim --url mqtt://127.0.0.1:1883 -n 1000 --delay uniform:5-50 --error-rate 0.01 \\
           --webhook-url http://127.0.0.1:8081/hooks/emqx --webhook-token "$RRPC_WEBHOOK_TOKEN"
`;

export interface CliOptions {
  help: boolean;
  simulation: SimulationOptions;
  statsIntervalSeconds: number;
  durationSeconds: number | undefined;
  /** --secrets: the CSV file of device secrets to read. */
  secretsFile: string | undefined;
  /** --register: the api to register the devices at first, and its API key. */
  register: { apiUrl: string; apiKey: string } | undefined;
}

function number(value: string | undefined, what: string, min: number, integer = true): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new SimulatorOptionError(`--${what}: "${value}" must be ${integer ? 'a whole number' : 'a number'} >= ${min}`);
  }
  return n;
}

export function parseCliOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): CliOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        'product-key': { type: 'string' },
        devices: { type: 'string', short: 'n' },
        prefix: { type: 'string' },
        'first-index': { type: 'string' },
        secret: { type: 'string' },
        secrets: { type: 'string' },
        register: { type: 'string' },
        'api-key': { type: 'string' },
        'sign-method': { type: 'string' },
        protocol: { type: 'string' },
        keepalive: { type: 'string' },
        'connect-rate': { type: 'string' },
        reply: { type: 'string' },
        'reply-payload': { type: 'string' },
        delay: { type: 'string' },
        'error-rate': { type: 'string' },
        'error-mode': { type: 'string' },
        'error-payload': { type: 'string' },
        'custom-topic': { type: 'string', multiple: true },
        flap: { type: 'string' },
        'webhook-url': { type: 'string' },
        'webhook-token': { type: 'string' },
        'stats-interval': { type: 'string' },
        duration: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new SimulatorOptionError(error instanceof Error ? error.message : String(error));
  }
  const v = parsed.values;
  const signMethod = v['sign-method'];
  if (signMethod !== undefined && !isSignMethod(signMethod))
    throw new SimulatorOptionError(`--sign-method: "${signMethod}": choose hmacsha1, hmacsha256 or hmacmd5`);
  const protocol = v.protocol ?? '4';
  if (protocol !== '4' && protocol !== '5') throw new SimulatorOptionError(`--protocol: "${protocol}": choose 4 (MQTT 3.1.1) or 5`);
  const reply = (v.reply ?? (v['reply-payload'] !== undefined ? 'fixed' : 'echo')) as ReplyMode;
  const webhookUrl = v['webhook-url'];
  if (webhookUrl !== undefined && !/^https?:\/\//.test(webhookUrl))
    throw new SimulatorOptionError(`--webhook-url: "${webhookUrl}" must start with http:// or https://`);
  const webhookToken = v['webhook-token'] ?? env['RRPC_WEBHOOK_TOKEN'];
  const flap = number(v.flap, 'flap', 2);
  const keepalive = number(v.keepalive, 'keepalive', 0);
  const firstIndex = number(v['first-index'], 'first-index', 0);
  const simulation: SimulationOptions = {
    url: v.url ?? env['MQTT_URL'] ?? 'mqtt://127.0.0.1:1883',
    productKey: v['product-key'] ?? 'simProduct',
    devices: number(v.devices, 'devices', 1) ?? 10,
    prefix: v.prefix ?? 'sim-',
    ...(firstIndex !== undefined ? { firstIndex } : {}),
    ...(v.secret !== undefined ? { deviceSecret: v.secret } : {}),
    ...(signMethod !== undefined ? { signMethod } : {}),
    protocolVersion: protocol === '5' ? 5 : 4,
    ...(keepalive !== undefined ? { keepalive } : {}),
    connectRate: number(v['connect-rate'], 'connect-rate', 0.001, false) ?? 200,
    behaviour: {
      reply,
      ...(v['reply-payload'] !== undefined ? { fixedPayload: v['reply-payload'] } : {}),
      ...(v.delay !== undefined ? { delay: parseDelay(v.delay) } : {}),
      errorRate: number(v['error-rate'], 'error-rate', 0, false) ?? 0,
      errorMode: (v['error-mode'] ?? 'silent') as ErrorMode,
      ...(v['error-payload'] !== undefined ? { errorPayload: v['error-payload'] } : {}),
    },
    ...(v['custom-topic'] !== undefined ? { customTopics: v['custom-topic'] } : {}),
    ...(flap !== undefined ? { flapEverySeconds: flap } : {}),
    ...(webhookUrl !== undefined ? { webhook: { url: webhookUrl, token: webhookToken } } : {}),
  };
  return {
    help: v.help ?? false,
    simulation,
    statsIntervalSeconds: number(v['stats-interval'], 'stats-interval', 0, false) ?? 5,
    durationSeconds: number(v.duration, 'duration', 0, false),
    secretsFile: v.secrets,
    register: registerOption(v.register, v['api-key'] ?? env['RRPC_API_KEY']),
  };
}

function registerOption(apiUrl: string | undefined, apiKey: string | undefined): CliOptions['register'] {
  if (apiUrl === undefined) return undefined;
  if (!/^https?:\/\//.test(apiUrl)) throw new SimulatorOptionError(`--register: "${apiUrl}" must start with http:// or https://`);
  if (!apiKey) throw new SimulatorOptionError('--register needs an API key: --api-key KEY or $RRPC_API_KEY');
  return { apiUrl, apiKey };
}
