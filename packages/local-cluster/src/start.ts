/**
 * `npm start`: brings the local cluster up, prints where everything is and a ready-to-paste curl, makes
 * that call itself, and runs until Ctrl-C (SIGINT) or SIGTERM, which stop everything it started.
 * `npm start --trace` (or `npm start -- --trace`, or RRPC_TRACE=1): the services export OpenTelemetry spans,
 * to OTEL_EXPORTER_OTLP_ENDPOINT when it is set (Jaeger, a collector), else to a built-in receiver that
 * prints every call's trace as a tree (docs/tracing.md).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { killAllChildren } from './child-process.js';
import { curlCommand, rawCurlCommand, registerCurlCommand } from './curl.js';
import { startLocalCluster, type LocalCluster } from './local-cluster.js';
import { MissingDependencyError } from './redis-server.js';
import { startTracePrinter, type TracePrinter } from './trace-printer.js';

/** How long each service gets to stop after another part of the cluster died. */
const UNEXPECTED_EXIT_GRACE_MS = 3000;

const out = (line = '') => process.stdout.write(`${line}\n`);
const root = fileURLToPath(new URL('../../../', import.meta.url));

async function demoCall(cluster: LocalCluster, deviceName: string, text: string): Promise<void> {
  out(`Calling ${cluster.productKey}/${deviceName} with "${text}" ...`);
  const res = await fetch(`${cluster.apiUrl}/v1/devices/${cluster.productKey}/${deviceName}/rrpc`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cluster.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ payload: Buffer.from(text).toString('base64'), timeoutMs: 5000 }),
  });
  const body = await res.text();
  out(`  HTTP ${res.status} ${body}`);
  try {
    const json = JSON.parse(body) as { payload?: string };
    if (res.ok && json.payload !== undefined) out(`  the device answered: "${Buffer.from(json.payload, 'base64').toString()}"`);
  } catch {
    // printed as it came
  }
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'rrpc-local-'));
  const devices = Number(process.env['RRPC_SIM_DEVICES'] ?? 3);
  // npm turns `npm start --trace` into npm_config_trace; `npm start -- --trace` passes the flag itself.
  const tracing =
    process.argv.includes('--trace') ||
    process.env['npm_config_trace'] === 'true' ||
    ['1', 'true'].includes(process.env['RRPC_TRACE'] ?? '');
  let printer: TracePrinter | undefined;
  let traceEnv: Record<string, string> = {};
  if (tracing && !process.env['OTEL_EXPORTER_OTLP_ENDPOINT']) {
    printer = await startTracePrinter((tree) => out(`\n${tree}`));
    traceEnv = printer.env;
  }
  let cluster: LocalCluster | undefined;
  let starting: Promise<LocalCluster> | undefined;
  let firstSignalAt: number | undefined;

  let stopping = false;
  const shutdown = async (why: string, code: number, graceMs?: number) => {
    stopping = true; // services say goodbye at warn level while they stop: not worth showing
    out();
    out(`${why}: stopping the local cluster ...`);
    try {
      const running = cluster ?? (await starting?.catch(() => undefined));
      await running?.stop(graceMs === undefined ? {} : { graceMs });
      await printer?.stop();
      out(`Stopped: devices, services, broker and Redis. Nothing is left running. (Logs: ${logDir})`);
    } catch (error) {
      out(`Could not stop cleanly (${error instanceof Error ? error.message : String(error)}); killing what is left.`);
      killAllChildren();
      code = 1;
    }
    process.exit(code);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // npm passes Ctrl-C on as well: a repeat within 2 s is the same request.
    if (firstSignalAt !== undefined) {
      if (Date.now() - firstSignalAt > 2000) {
        out(`${signal} again: killing everything now.`);
        killAllChildren();
        process.exit(1);
      }
      return;
    }
    firstSignalAt = Date.now();
    void shutdown(signal, 0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('exit', killAllChildren);

  out('Starting the RRPC local cluster (free ports; nothing on this machine is reused unless MQTT_URL / REDIS_URL say so)');
  starting = startLocalCluster({
    root,
    env: { ...process.env, ...traceEnv },
    logDir,
    devices: Number.isInteger(devices) && devices > 0 ? devices : 3,
    progress: (line) => out(`  ${line}`),
    warning: (service, line) => {
      if (!stopping) out(`  [${service}] ${line}`);
    },
    onChildExit: (name, code) => {
      if (firstSignalAt === undefined) {
        firstSignalAt = Date.now();
        // The rest cannot finish cleanly without it (Redis, say): a short grace, then the exit code says so.
        void shutdown(`${name} exited unexpectedly (code ${code}; see ${join(logDir, `${name}.log`)})`, 1, UNEXPECTED_EXIT_GRACE_MS);
      }
    },
  });
  try {
    cluster = await starting;
  } catch (error) {
    if (firstSignalAt !== undefined) return; // shutdown() is already on it
    if (error instanceof MissingDependencyError) {
      process.stderr.write(`\nCannot start: ${error.message}\n`);
    } else {
      process.stderr.write(`\nCannot start: ${error instanceof Error ? error.message : String(error)}\n(logs: ${logDir})\n`);
    }
    process.exit(1);
  }
  if (firstSignalAt !== undefined) return;

  const device = cluster.deviceNames[0] as string;
  out();
  out('RRPC is up.');
  out(`  API          ${cluster.apiUrl}`);
  out(`  API key      ${cluster.apiKey}`);
  out(
    `  Console      ${cluster.apiUrl}/console/#key=${encodeURIComponent(cluster.apiKey)}   (the key rides in the fragment: never sent to a server, kept in the tab)`,
  );
  out(`  API docs     ${cluster.apiUrl}/docs/`);
  out(
    `  Devices      ${cluster.deviceNames.map((d) => `${cluster?.productKey}/${d}`).join(', ')} (echo; also on custom topic ${cluster.customTopic})`,
  );
  out(`  Processes    ${cluster.processes.map((p) => `${p.name} pid ${p.pid}`).join(', ')}`);
  out(`  Logs         ${logDir}`);
  if (printer !== undefined) {
    out(`  Traces       printed below as trees (built-in OTLP/HTTP receiver at ${printer.endpoint}; for a trace viewer,`);
    out('               run Jaeger and start with OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 npm start --trace)');
  } else if (tracing) {
    out(`  Traces       exported to ${process.env['OTEL_EXPORTER_OTLP_ENDPOINT']} (Jaeger: http://127.0.0.1:16686, service rrpc-api)`);
  }
  out();
  out('Call a simulated device (JSON, payload in base64):');
  out(`  ${curlCommand(cluster.apiUrl, cluster.apiKey, cluster.productKey, device, 'hello from curl')}`);
  out('or with raw bytes, on its custom topic:');
  out(
    `  ${rawCurlCommand(cluster.apiUrl, cluster.apiKey, cluster.productKey, device, 'hello', `/${cluster.productKey}/${device}/${cluster.customTopic}`)}`,
  );
  out('Register a device of your own (its secret is in the answer, shown only once; the device signs its MQTT');
  out('login with it, the Alibaba way, and the broker checks it at POST /authn/emqx of response-ingest):');
  out(`  ${registerCurlCommand(cluster.apiUrl, cluster.apiKey, cluster.productKey)}`);
  out();
  await demoCall(cluster, device, 'hello from npm start');
  out();
  if (cluster.forgetfulDevice !== undefined) {
    out(
      `${cluster.productKey}/${cluster.forgetfulDevice} is connected but never subscribed to its request topic (RRPC_TRACK_SUBSCRIPTIONS=true):`,
    );
    const started = Date.now();
    await demoCall(cluster, cluster.forgetfulDevice, 'are you listening?');
    out(`  answered in ${Date.now() - started} ms, nothing published (without the check it would wait out its 5000 ms timeout)`);
    out();
  }
  out('Press Ctrl-C to stop everything.');
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  killAllChildren();
  process.exit(1);
});
