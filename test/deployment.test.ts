/**
 * Deployment consistency: docker-compose.yml, the EMQX configuration, every k8s manifest (rendered),
 * the Grafana dashboard and the alert rules are checked against the code — ports, HTTP paths, the
 * environment variables @rrpc/config reads, topics, metric names — so they cannot drift.
 */
import express from 'express';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as configModule from '@rrpc/config';
import { API_ENV_VARS, COMMON_ENV_VARS, INGEST_ENV_VARS, loadApiConfig, loadIngestConfig, type Env } from '@rrpc/config';
import * as metricsModule from '@rrpc/metrics';
import { CALL_OUTCOMES, INGEST_RESULTS, createApiMetrics, createAuthnMetrics, createIngestMetrics, createRegistry } from '@rrpc/metrics';
import { authzRoutes } from '../services/response-ingest/src/routes/authz.js';
import { authnRoutes } from '../services/response-ingest/src/routes/authn.js';
import { Authenticator } from '../services/response-ingest/src/authenticator.js';
import { hookRoutes } from '../services/response-ingest/src/routes/hooks.js';
import { createLogger, errorHandler, listen, notFound, opsRouter } from '@rrpc/runtime';
import { RESPONSE_FILTERS, serviceMayUse, sharedFilter, systemRequestTopic, requestTopic } from '@rrpc/topics';
import {
  at,
  kubectlAvailable,
  parseHocon,
  renderKustomize,
  renderWithKubectl,
  repoRoot,
  type HoconObject,
  type K8sObject,
} from './deployment-support.js';

const read = (p: string) => readFileSync(join(repoRoot, p), 'utf8');
const logger = createLogger('test', 'silent');

// ---------------------------------------------------------------------------------------------------
// What the code says

const PORTS = { api: 8080, 'response-ingest': 8081, worker: 8082 } as const;
type ServiceName = keyof typeof PORTS;
const SERVICES = Object.keys(PORTS) as ServiceName[];
const NAMESPACE = 'rrpc';
const SECRET_KEYS = ['api-keys', 'webhook-token', 'mqtt-password', 'secrets-key', 'emqx-dashboard-password'];
/** A valid RRPC_SECRETS_KEY (32 bytes, base64) for configs the test loads. */
const TEST_SECRETS_KEY = Buffer.alloc(32, 9).toString('base64');

/** Env vars each service reads. The worker exports its own list once it exists; until then, the common set. */
const workerVars = (configModule as Record<string, unknown>)['WORKER_ENV_VARS'] as readonly string[] | undefined;
const ENV_VARS: Record<ServiceName, readonly string[]> = {
  api: API_ENV_VARS,
  'response-ingest': INGEST_ENV_VARS,
  worker: workerVars ?? [...COMMON_ENV_VARS, 'PORT'],
};

/** Every metric name the services register (histograms expand to _bucket/_sum/_count). */
function registeredMetricNames(): Set<string> {
  const names = new Set<string>();
  const registry = createRegistry('deployment-test');
  createApiMetrics(registry);
  createIngestMetrics(registry);
  createAuthnMetrics(registry);
  const createWorkerMetrics = (metricsModule as Record<string, unknown>)['createWorkerMetrics'];
  if (typeof createWorkerMetrics === 'function') createWorkerMetrics(registry);
  for (const m of registry.getMetricsAsArray()) {
    const { name, type } = m as unknown as { name: string; type: string };
    names.add(name);
    if (type === 'histogram' || type === 'summary') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
  }
  return names;
}

/** Serves the real route modules and answers whether `method path` exists (anything but 404). */
let routeProbe: { url: string; close(): Promise<void> };
beforeAll(async () => {
  const app = express();
  app.use(opsRouter({ registry: createRegistry('probe'), accepting: () => true, checks: [] }));
  app.use(
    hookRoutes({
      presence: {} as never,
      metrics: createIngestMetrics(createRegistry('probe2')),
      logger,
      webhookToken: 'x'.repeat(20),
      authDisabled: false,
      maxBodyBytes: 1024,
    }),
  );
  app.use(authzRoutes({ logger, webhookToken: 'x'.repeat(20), authDisabled: false, serviceUsername: undefined }));
  const authenticator = new Authenticator({
    registry: undefined,
    serviceUsername: 'rrpc-platform',
    servicePassword: undefined,
    shareGroup: NAMESPACE,
  });
  app.use(
    authnRoutes({
      authenticator,
      metrics: createAuthnMetrics(createRegistry('probe3')),
      logger,
      webhookToken: 'x'.repeat(20),
      authDisabled: false,
    }),
  );
  app.use(notFound);
  app.use(errorHandler(logger));
  const server = createServer(app);
  const port = await listen(server, 0, '127.0.0.1');
  routeProbe = { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
});
afterAll(() => routeProbe?.close());

async function routeExists(method: 'GET' | 'POST', path: string): Promise<boolean> {
  const res = await fetch(routeProbe.url + path, { method, body: method === 'POST' ? '{}' : undefined });
  return res.status !== 404;
}

// ---------------------------------------------------------------------------------------------------
// Files

interface ComposeService {
  image?: string;
  build?: { context: string; args?: Record<string, string> };
  command?: string[];
  environment?: Record<string, string>;
  deploy?: { replicas?: number };
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
  hostname?: string;
  stop_grace_period?: string;
  networks?: unknown;
}
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const emqxConf = parseHocon(read('deploy/emqx/emqx.conf'));
const aclConf = read('deploy/emqx/acl.conf');

/** Compose's `${VAR:?msg}` / `${VAR:-default}` with test values for the secrets. */
function interpolate(value: string): string {
  const secrets: Record<string, string> = {
    RRPC_API_KEYS: 'k'.repeat(24),
    RRPC_WEBHOOK_TOKEN: 't'.repeat(24),
    EMQX_COOKIE: 'cookie',
    RRPC_SECRETS_KEY: TEST_SECRETS_KEY,
    RRPC_MQTT_PASSWORD: 'm'.repeat(24),
    EMQX_DASHBOARD_PASSWORD: 'd'.repeat(16),
    GRAFANA_ADMIN_PASSWORD: 'g'.repeat(16),
  };
  return value.replace(
    /\$\{([A-Z0-9_]+)(?::([?-])([^}]*))?\}/g,
    (_m, name: string, kind?: string, rest?: string) => secrets[name] ?? (kind === '-' ? (rest ?? '') : ''),
  );
}
function composeEnv(service: string): Env {
  return Object.fromEntries(Object.entries(compose.services[service]?.environment ?? {}).map(([k, v]) => [k, interpolate(String(v))]));
}

const K8S_DIRS = ['k8s/base', 'k8s/overlays/dev', 'k8s/overlays/prod'];
const useKubectl = kubectlAvailable();
const rendered: Record<string, K8sObject[]> = Object.fromEntries(
  K8S_DIRS.map((d) => [d, useKubectl ? renderWithKubectl(join(repoRoot, d)) : renderKustomize(join(repoRoot, d))]),
);
if (!useKubectl) console.warn("deployment.test: kubectl not installed — k8s manifests rendered by the test's own kustomize subset");

const find = (objs: K8sObject[], kind: string, name: string) => objs.find((o) => o.kind === kind && o.metadata.name === name);

// ---------------------------------------------------------------------------------------------------

describe('HTTP paths named in deployment files exist in the code', () => {
  it.each([
    ['GET', '/livez'],
    ['GET', '/readyz'],
    ['GET', '/metrics'],
    ['POST', '/hooks/emqx'],
    ['POST', '/authz/emqx'],
    ['POST', '/authn/emqx'],
  ] as const)('%s %s is served', async (method, path) => {
    expect(await routeExists(method, path)).toBe(true);
  });

  it('the probe can tell a missing route', async () => {
    expect(await routeExists('POST', '/authz/emqx4')).toBe(false);
  });
});

describe('docker-compose.yml', () => {
  it('builds each service from the one Dockerfile with its SERVICE arg, with the replica counts asked for', () => {
    const replicas = { api: 3, 'response-ingest': 2, worker: 2 };
    for (const name of SERVICES) {
      const s = compose.services[name]!;
      expect(s.build?.args?.['SERVICE'], name).toBe(name);
      expect(s.deploy?.replicas, name).toBe(replicas[name]);
      if (name !== 'worker' || existsSync(join(repoRoot, 'services/worker/package.json'))) {
        expect(existsSync(join(repoRoot, `services/${name}/package.json`)), name).toBe(true);
      }
    }
  });

  it('gives each service only environment variables @rrpc/config reads, with its own port', () => {
    for (const name of SERVICES) {
      const env = compose.services[name]!.environment ?? {};
      for (const key of Object.keys(env)) expect(ENV_VARS[name], `${name}: ${key}`).toContain(key);
      expect(env['PORT'], name).toBe(String(PORTS[name]));
      expect(compose.services[name]!.healthcheck?.test.join(' '), name).toContain(`http://127.0.0.1:${PORTS[name]}/readyz`);
    }
  });

  it('has an environment the services actually accept', () => {
    const api = loadApiConfig(composeEnv('api'));
    expect(api.port).toBe(PORTS.api);
    const ingest = loadIngestConfig(composeEnv('response-ingest'));
    expect(ingest.port).toBe(PORTS['response-ingest']);
    expect(ingest.namespace).toBe(NAMESPACE);
    expect(ingest.sharedSubscription).toBe(true);
    expect(ingest.serviceMqttUsername).toBe('rrpc-platform');
    for (const name of SERVICES) expect(composeEnv(name)['MQTT_USERNAME'], name).toBe(ingest.serviceMqttUsername);
  });

  it('waits for healthy dependencies, each of which has a health check', () => {
    for (const [name, s] of Object.entries(compose.services)) {
      for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
        expect(cond.condition, `${name} → ${dep}`).toBe('service_healthy');
        expect(compose.services[dep]?.healthcheck, `${dep} has a healthcheck`).toBeDefined();
      }
    }
    for (const name of SERVICES)
      expect(Object.keys(compose.services[name]!.depends_on ?? {})).toEqual(expect.arrayContaining(['redis', 'emqx1', 'emqx2']));
  });

  it('runs Redis without eviction and with AOF', () => {
    const cmd = compose.services['redis']!.command!.join(' ');
    expect(cmd).toContain('--maxmemory-policy noeviction');
    expect(cmd).toContain('--appendonly yes');
  });

  it('runs a two-node EMQX 5.8 cluster whose node names are the static seeds', () => {
    const nodes = ['emqx1', 'emqx2'].map((n) => compose.services[n]!);
    for (const n of nodes) expect(n.image).toMatch(/^emqx\/emqx:5\.8\.\d+$/);
    const names = nodes.map((n) => n.environment!['EMQX_NODE__NAME']);
    expect(at(emqxConf, 'cluster.discovery_strategy')).toBe('static');
    expect(at(emqxConf, 'cluster.static.seeds')).toEqual(names);
    nodes.forEach((n, i) => expect(names[i]).toBe(`emqx@${n.hostname}`));
  });

  it('overrides only EMQX settings that exist in emqx.conf (EMQX_A__B maps to a.b, array indexes 1-based)', () => {
    for (const n of ['emqx1', 'emqx2']) {
      for (const key of Object.keys(compose.services[n]!.environment ?? {})) {
        const path = key
          .replace(/^EMQX_/, '')
          .split('__')
          .map((p) => (/^\d+$/.test(p) ? String(Number(p) - 1) : p.toLowerCase()))
          .join('.');
        expect(at(emqxConf, path), `${key} → ${path}`).toBeDefined();
      }
      const env = compose.services[n]!.environment!;
      expect(env['EMQX_CONNECTORS__HTTP__RRPC_INGEST__HEADERS__AUTHORIZATION']).toBe(
        'Bearer ${RRPC_WEBHOOK_TOKEN:?set RRPC_WEBHOOK_TOKEN}',
      );
      expect(env['EMQX_AUTHORIZATION__SOURCES__2__HEADERS__AUTHORIZATION']).toBe('Bearer ${RRPC_WEBHOOK_TOKEN:?set RRPC_WEBHOOK_TOKEN}');
      expect(env['EMQX_AUTHENTICATION__1__HEADERS__AUTHORIZATION']).toBe('Bearer ${RRPC_WEBHOOK_TOKEN:?set RRPC_WEBHOOK_TOKEN}');
      expect(env['EMQX_DASHBOARD__DEFAULT_PASSWORD']).toBe('${EMQX_DASHBOARD_PASSWORD:?set EMQX_DASHBOARD_PASSWORD}');
    }
  });

  it('publishes MQTT to the host only over TLS, the dashboard and Prometheus on 127.0.0.1 only, no default passwords', () => {
    const published = Object.values(compose.services).flatMap((svc) => ((svc as { ports?: string[] }).ports ?? []).map(String));
    expect(
      published.some((p) => /(^|:)1883(:|$)/.test(p)),
      published.join(' '),
    ).toBe(false);
    expect(published).toContain('8883:8883');
    expect(published).toContain('127.0.0.1:18083:18083');
    expect(published).toContain('127.0.0.1:9090:9090');
    expect(compose.services['grafana']!.environment!['GF_SECURITY_ADMIN_PASSWORD']).toBe(
      '${GRAFANA_ADMIN_PASSWORD:?set GRAFANA_ADMIN_PASSWORD}',
    );
    expect(compose.services['grafana']!.environment!['GF_AUTH_ANONYMOUS_ENABLED']).toBe('false');
    // The platform's MQTT password is required, and the ingest checks the platform's logins against it.
    for (const name of SERVICES)
      expect(compose.services[name]!.environment!['MQTT_PASSWORD'], name).toBe('${RRPC_MQTT_PASSWORD:?set RRPC_MQTT_PASSWORD}');
    const ingest = loadIngestConfig(composeEnv('response-ingest'));
    expect(ingest.mqtt.password).toBe('m'.repeat(24));
    expect(ingest.mqtt.username).toBe(ingest.serviceMqttUsername);
  });

  it('balances the api replicas (nginx) and scrapes every replica (Prometheus)', () => {
    const nginx = read('deploy/nginx/nginx.conf');
    expect(nginx).toMatch(new RegExp(`server api:${PORTS.api} resolve`));
    expect(nginx).toMatch(/proxy_read_timeout (\d+)s/);
    expect(Number(/proxy_read_timeout (\d+)s/.exec(nginx)![1])).toBeGreaterThan(60);
    const prom = parseYaml(read('deploy/prometheus/prometheus.yml')) as {
      scrape_configs: Array<{ job_name: string; metrics_path: string; dns_sd_configs?: Array<{ names: string[]; port: number }> }>;
    };
    for (const name of SERVICES) {
      const job = prom.scrape_configs.find((j) => j.job_name === `rrpc-${name}`);
      expect(job, name).toBeDefined();
      expect(job!.metrics_path).toBe('/metrics');
      expect(job!.dns_sd_configs).toEqual([expect.objectContaining({ names: [name], port: PORTS[name] })]);
    }
  });
});

/** The parts of the EMQX configuration that RRPC depends on, checked for compose and for k8s alike. */
function checkEmqxConfig(conf: HoconObject, label: string) {
  const ingest = `http://response-ingest:${PORTS['response-ingest']}`;
  expect(at(conf, 'authorization.no_match'), label).toBe('deny');
  const sources = at(conf, 'authorization.sources') as HoconObject[];
  expect(
    sources.map((s) => s['type']),
    label,
  ).toEqual(['file', 'http']);
  const http = sources[1]!;
  expect(http['method']).toBe('post');
  expect(http['url']).toBe(`${ingest}/authz/emqx`);
  expect(String(at(http, 'headers.authorization'))).toMatch(/^Bearer /);
  // Every body field is a placeholder EMQX fills, and the endpoint reads these names.
  const body = http['body'] as Record<string, string>;
  expect(Object.keys(body).sort()).toEqual(['action', 'clientid', 'peerhost', 'qos', 'retain', 'topic', 'username']);
  for (const [k, v] of Object.entries(body)) expect(v).toBe(`\${${k}}`);

  const rule = at(conf, 'rule_engine.rules.rrpc_presence') as HoconObject;
  expect(rule['sql']).toMatch(/FROM\s+"\$events\/client_connected",\s*"\$events\/client_disconnected"/);
  expect(rule['actions']).toEqual(['http:rrpc_presence']);
  const action = at(conf, 'actions.http.rrpc_presence') as HoconObject;
  expect(at(action, 'parameters.path')).toBe('/hooks/emqx');
  expect(at(action, 'parameters.method')).toBe('post');
  expect(at(action, 'parameters.body')).toBe(''); // empty: the whole event, which the webhook parser expects
  const connector = at(conf, `connectors.http.${action['connector'] as string}`) as HoconObject;
  expect(connector['url']).toBe(ingest);
  expect(String(at(connector, 'headers.authorization'))).toMatch(/^Bearer /);
  expect(at(conf, 'mqtt.shared_subscription')).toBe(true);

  // Authentication: response-ingest's POST /authn/emqx, first and only in the chain (no anonymous access).
  const authn = at(conf, 'authentication') as HoconObject[];
  expect(authn, label).toHaveLength(1);
  const authenticator = authn[0]!;
  expect(authenticator['mechanism']).toBe('password_based');
  expect(authenticator['backend']).toBe('http');
  expect(authenticator['enable']).toBe(true);
  expect(authenticator['method']).toBe('post');
  expect(authenticator['url']).toBe(`${ingest}/authn/emqx`);
  expect(String(at(authenticator, 'headers.authorization'))).toMatch(
    /^Bearer override-with-EMQX_AUTHENTICATION__1__HEADERS__AUTHORIZATION$/,
  );
  const authnBody = authenticator['body'] as Record<string, string>;
  expect(Object.keys(authnBody).sort()).toEqual(['clientid', 'password', 'peerhost', 'username']);
  for (const [k, v] of Object.entries(authnBody)) expect(v).toBe(`\${${k}}`);
  // Devices: TLS on 8883. The dashboard's password comes from the environment, never "public".
  expect(at(conf, 'listeners.ssl.default.bind'), label).toBe('0.0.0.0:8883');
  expect(String(at(conf, 'listeners.ssl.default.ssl_options.certfile'))).toMatch(/\/certs\/tls\.crt$/);
  expect(String(at(conf, 'listeners.ssl.default.ssl_options.keyfile'))).toMatch(/\/certs\/tls\.key$/);
  expect(at(conf, 'dashboard.default_password')).toBe('override-with-EMQX_DASHBOARD__DEFAULT_PASSWORD');
}

describe('EMQX configuration', () => {
  it('docker-compose: webhook rule and HTTP authorization point at response-ingest, deny by default', () => {
    checkEmqxConfig(emqxConf, 'deploy/emqx/emqx.conf');
    expect(at(emqxConf, 'listeners.tcp.default.bind')).toBe('0.0.0.0:1883');
  });

  it('the response-ingest URL names the compose service and its port', () => {
    expect(compose.services['response-ingest']).toBeDefined();
  });

  it('the file source lets the platform user use exactly the topics the code allows it', () => {
    const rules = [...aclConf.matchAll(/^\{allow, \{username, "([^"]+)"\}, (publish|subscribe), \[(.*)\]\}\.$/gm)];
    expect(rules.length).toBe(2);
    expect(aclConf.split('\n').filter((l) => l.startsWith('{')).length).toBe(2); // no catch-all rule
    for (const [, user] of rules) expect(user).toBe(loadIngestConfig(composeEnv('response-ingest')).serviceMqttUsername);
    const subscribe = [...rules.find((r) => r[2] === 'subscribe')![3]!.matchAll(/\{eq, "([^"]+)"\}/g)].map((m) => m[1]!);
    const expected = RESPONSE_FILTERS.flatMap((f) => [f, sharedFilter(NAMESPACE, f)]);
    expect(subscribe.sort()).toEqual([...expected].sort());
    for (const f of subscribe) expect(serviceMayUse('subscribe', f), f).toBe(true);
    const publish = [...rules.find((r) => r[2] === 'publish')![3]!.matchAll(/"([^"]+)"/g)].map((m) => m[1]!);
    const device = { productKey: 'a14Xib5kdYd', deviceName: 'light1983432' };
    const samples = [systemRequestTopic(device, '123'), requestTopic(device, '123', '/a14Xib5kdYd/light1983432/user/get')];
    for (const topic of samples) {
      expect(serviceMayUse('publish', topic)).toBe(true);
      expect(
        publish.some((p) => mqttMatch(p, topic)),
        topic,
      ).toBe(true);
    }
  });
});

function mqttMatch(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length || (f[i] !== '+' && f[i] !== t[i])) return false;
  }
  return f.length === t.length;
}

describe.each(K8S_DIRS)('k8s %s', (dir) => {
  const objs = rendered[dir]!;
  const configMap = find(objs, 'ConfigMap', 'rrpc-config') as { data: Record<string, string> } & K8sObject;

  it('renders', () => {
    expect(objs.length).toBeGreaterThan(15);
    if (dir !== 'k8s/base') expect(new Set(objs.filter((o) => o.kind !== 'Namespace').map((o) => o.metadata.namespace)).size).toBe(1);
  });

  it.each(SERVICES)('Deployment %s: port, probes, preStop, grace period, resources, non-root', (name) => {
    const d = find(objs, 'Deployment', name) as K8sObject & { spec: any };
    expect(d).toBeDefined();
    const pod = d.spec.template.spec;
    const c = pod.containers[0];
    expect(c.ports).toEqual([{ name: 'http', containerPort: PORTS[name] }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/livez', port: 'http' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    const preStop = Number(c.lifecycle.preStop.exec.command[1]);
    expect(preStop).toBeGreaterThan(0);
    if (name !== 'response-ingest') expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + 60 + 10);
    else expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(preStop);
    for (const r of ['cpu', 'memory']) {
      expect(c.resources.requests[r], r).toBeDefined();
    }
    expect(c.resources.limits.memory).toBeDefined();
    expect(pod.securityContext.runAsNonRoot).toBe(true);
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
  });

  it.each(SERVICES)('Deployment %s: reads only variables @rrpc/config knows, and its config loads', (name) => {
    const c = (find(objs, 'Deployment', name) as any).spec.template.spec.containers[0];
    const env: Env = { ...configMap.data };
    for (const ref of c.envFrom) expect(ref.configMapRef.name).toBe('rrpc-config');
    for (const e of c.env as Array<{ name: string; value?: string; valueFrom?: any }>) {
      expect(ENV_VARS[name], `${name}: ${e.name}`).toContain(e.name);
      if (e.valueFrom?.secretKeyRef) {
        expect(e.valueFrom.secretKeyRef.name).toBe('rrpc-secrets');
        expect(SECRET_KEYS).toContain(e.valueFrom.secretKeyRef.key);
        env[e.name] =
          e.name === 'RRPC_SECRETS_KEY'
            ? TEST_SECRETS_KEY
            : e.name === 'RRPC_API_KEYS' || e.name === 'RRPC_WEBHOOK_TOKEN'
              ? 's'.repeat(24)
              : 'secret';
      } else if (e.valueFrom?.fieldRef) env[e.name] = `${name}-0`;
      else env[e.name] = e.value;
    }
    expect(env['PORT']).toBe(String(PORTS[name]));
    for (const key of Object.keys(configMap.data))
      expect(
        Object.values(ENV_VARS).some((vars) => vars.includes(key)),
        key,
      ).toBe(true);
    if (name === 'api') expect(loadApiConfig(env).port).toBe(PORTS.api);
    if (name === 'response-ingest') {
      const cfg = loadIngestConfig(env);
      expect(cfg.namespace).toBe(NAMESPACE);
      expect(cfg.serviceMqttUsername).toBe(env['MQTT_USERNAME']);
    }
  });

  it.each(SERVICES)('Service and PodDisruptionBudget %s', (name) => {
    const svc = find(objs, 'Service', name) as any;
    expect(svc.spec.ports).toEqual([{ name: 'http', port: PORTS[name], targetPort: 'http' }]);
    expect(svc.spec.selector).toEqual({ 'app.kubernetes.io/name': name });
    expect(svc.metadata.labels['rrpc.io/job']).toBe(`rrpc-${name}`);
    const pdb = find(objs, 'PodDisruptionBudget', name) as any;
    expect(pdb.spec.selector.matchLabels).toEqual({ 'app.kubernetes.io/name': name });
  });

  it('autoscales the api on calls in flight per pod and on CPU', () => {
    const hpa = find(objs, 'HorizontalPodAutoscaler', 'api') as any;
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'api' });
    expect(hpa.spec.metrics.map((m: any) => m.pods?.metric.name ?? m.resource?.name)).toEqual(['rrpc_calls_in_flight', 'cpu']);
    expect(registeredMetricNames()).toContain('rrpc_calls_in_flight');
    expect(hpa.spec.minReplicas).toBeLessThanOrEqual(hpa.spec.maxReplicas);
  });

  it('monitors every service at /metrics under the job names the alert rules use', () => {
    const sm = find(objs, 'ServiceMonitor', 'rrpc') as any;
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
    expect(sm.spec.jobLabel).toBe('rrpc.io/job');
    const rule = find(objs, 'PrometheusRule', 'rrpc') as any;
    expect(rule.spec).toEqual(parseYaml(read('deploy/prometheus/rules/rrpc-alerts.yml')));
  });

  it('opens response-ingest to the EMQX pods and the api on its port', () => {
    const ingest = find(objs, 'NetworkPolicy', 'response-ingest-ingress') as any;
    expect(ingest.spec.ingress[0].ports).toEqual([{ port: PORTS['response-ingest'], protocol: 'TCP' }]);
    expect(ingest.spec.ingress[0].from[0].podSelector.matchLabels).toEqual({ 'apps.emqx.io/instance': 'emqx' });
    const api = find(objs, 'NetworkPolicy', 'api-ingress') as any;
    expect(api.spec.ingress[0].ports).toEqual([{ port: PORTS.api, protocol: 'TCP' }]);
    expect(find(objs, 'NetworkPolicy', 'rrpc-default-deny-ingress')).toBeDefined();
  });

  it('runs EMQX 5.8 through the Operator with the same RRPC configuration as docker-compose', () => {
    const emqx = find(objs, 'EMQX', 'emqx') as any;
    expect(emqx.apiVersion).toBe('apps.emqx.io/v2beta1');
    expect(emqx.spec.image).toMatch(/^emqx\/emqx:5\.8\.\d+$/);
    const conf = parseHocon(emqx.spec.config.data);
    checkEmqxConfig(conf, `${dir} EMQX CR`);
    for (const section of ['connectors', 'actions', 'rule_engine', 'mqtt', 'authentication'])
      expect(conf[section], section).toEqual(emqxConf[section]);
    const aclSource = (at(conf, 'authorization.sources') as HoconObject[])[0]!['path'];
    const aclPath = typeof aclSource === 'string' ? aclSource : JSON.stringify(aclSource);
    for (const tpl of ['coreTemplate', 'replicantTemplate']) {
      const spec = emqx.spec[tpl].spec;
      const names = spec.env.map((e: any) => e.name);
      expect(names).toEqual(
        expect.arrayContaining([
          'EMQX_CONNECTORS__HTTP__RRPC_INGEST__HEADERS__AUTHORIZATION',
          'EMQX_AUTHORIZATION__SOURCES__2__HEADERS__AUTHORIZATION',
        ]),
      );
      expect(spec.env.find((e: any) => e.name === 'RRPC_WEBHOOK_TOKEN').valueFrom.secretKeyRef).toEqual({
        name: 'rrpc-secrets',
        key: 'webhook-token',
      });
      expect(spec.env.find((e: any) => e.name === 'EMQX_AUTHENTICATION__1__HEADERS__AUTHORIZATION').value).toBe(
        'Bearer $(RRPC_WEBHOOK_TOKEN)',
      );
      expect(spec.env.find((e: any) => e.name === 'EMQX_DASHBOARD__DEFAULT_PASSWORD').valueFrom.secretKeyRef).toEqual({
        name: 'rrpc-secrets',
        key: 'emqx-dashboard-password',
      });
      const tls = spec.extraVolumes.find((v: any) => v.name === 'emqx-tls');
      expect(tls.secret.secretName).toBe('emqx-tls');
      const certs = spec.extraVolumeMounts.find((m: any) => m.name === 'emqx-tls').mountPath;
      expect(String(at(conf, 'listeners.ssl.default.ssl_options.certfile'))).toBe(`${certs}/tls.crt`);
      const mount = spec.extraVolumeMounts[0];
      expect(`${mount.mountPath}/acl.conf`).toBe(aclPath);
      expect(spec.extraVolumes[0].configMap.name).toBe('emqx-rrpc-acl');
    }
    const acl = find(objs, 'ConfigMap', 'emqx-rrpc-acl') as any;
    expect(acl.data['acl.conf']).toBe(aclConf);
    expect(configMap.data['MQTT_URL']).toBe('mqtt://emqx-listeners:1883');
    // Devices: TLS from outside; plain 1883 only from the platform's pods.
    const devices = find(objs, 'Service', 'emqx-devices') as any;
    expect(devices.spec.type).toBe('LoadBalancer');
    expect(devices.spec.ports.map((p: any) => p.port)).toEqual([8883]);
    expect(emqx.spec.listenersServiceTemplate.spec.type).toBe('ClusterIP');
    const policy = find(objs, 'NetworkPolicy', 'emqx-ingress') as any;
    const open = policy.spec.ingress.filter((r: any) => r.from === undefined);
    expect(open.flatMap((r: any) => r.ports.map((p: any) => p.port))).toEqual([8883]);
    const plain = policy.spec.ingress.find((r: any) => r.ports?.some((p: any) => p.port === 1883));
    expect(plain.from).toEqual([{ podSelector: { matchLabels: { 'app.kubernetes.io/part-of': 'rrpc' } } }]);
  });

  if (dir !== 'k8s/base') {
    it('the Secret the manifests reference is documented or generated with every key', () => {
      const secret = find(objs, 'Secret', 'rrpc-secrets') as any;
      if (dir.endsWith('dev')) expect(Object.keys(secret.data).sort()).toEqual([...SECRET_KEYS].sort());
      else expect(secret).toBeUndefined(); // prod: created from a secret manager, never committed
    });
  }
});

describe('k8s rendering', () => {
  it.skipIf(!useKubectl)(
    "the test's own kustomize subset renders what kubectl renders (so CI without kubectl checks the same objects)",
    () => {
      for (const dir of K8S_DIRS) {
        const mine = renderKustomize(join(repoRoot, dir));
        const key = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
        expect(mine.map(key).sort(), dir).toEqual(rendered[dir]!.map(key).sort());
        for (const o of rendered[dir]!) {
          if (o.kind === 'Secret') continue;
          const m = mine.find((x) => key(x) === key(o))!;
          expect(normalize(m['spec'] ?? m['data']), key(o)).toEqual(normalize(o['spec'] ?? o['data']));
        }
      }
    },
  );
});

function normalize(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? null));
}

describe('dashboard and alert rules', () => {
  const dashboard = JSON.parse(read('deploy/grafana/dashboards/rrpc-overview.json'));
  const rules = parseYaml(read('deploy/prometheus/rules/rrpc-alerts.yml')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  const exprs = [
    ...dashboard.panels.flatMap((p: any) => p.targets.map((t: any) => t.expr as string)),
    ...rules.groups.flatMap((g) => g.rules.map((r) => r.expr)),
  ];
  /** Metric names owned by others: Prometheus itself and EMQX's exporter. */
  const external = (n: string) => n === 'up' || n.startsWith('emqx_');
  /** The worker defines this one; until @rrpc/metrics exports createWorkerMetrics it may be pending. */
  const PENDING = new Set(['rrpc_worker_queue_depth']);

  function metricNames(expr: string): string[] {
    const withoutStrings = expr.replace(/"[^"]*"/g, '""').replace(/\[[^\]]*\]/g, '');
    const names = withoutStrings.match(/\b[a-z_][a-z0-9_]*\b(?=\s*[{)\s]|$)/g) ?? [];
    const keywords = new Set([
      'sum',
      'by',
      'rate',
      'histogram_quantile',
      'clamp_min',
      'max',
      'and',
      'or',
      'vector',
      'le',
      'outcome',
      'result',
      'instance',
      'event',
      'reason',
      'job',
      'on',
      'without',
      'humanize',
    ]);
    return names.filter((n) => !keywords.has(n) && (n.startsWith('rrpc_') || external(n)));
  }

  it('has a stable uid and a datasource variable that every panel uses', () => {
    expect(dashboard.uid).toBe('rrpc-overview');
    expect(dashboard.templating.list).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' })]),
    );
    for (const p of dashboard.panels) {
      expect(p.datasource.uid, p.title).toBe('${datasource}');
      for (const t of p.targets) expect(t.datasource.uid, p.title).toBe('${datasource}');
    }
  });

  it('shows every metric the operators asked for', () => {
    const used = new Set(exprs.flatMap(metricNames));
    for (const m of [
      'rrpc_calls_total',
      'rrpc_call_duration_seconds_bucket',
      'rrpc_calls_in_flight',
      'rrpc_responses_ingested_total',
      'rrpc_presence_events_total',
      'rrpc_worker_queue_depth',
    ]) {
      expect(used, m).toContain(m);
    }
  });

  it('uses only metric names @rrpc/metrics registers, and label values it emits', () => {
    const registered = registeredMetricNames();
    const workerExported = typeof (metricsModule as Record<string, unknown>)['createWorkerMetrics'] === 'function';
    for (const expr of exprs) {
      for (const name of metricNames(expr)) {
        if (external(name)) continue;
        if (PENDING.has(name) && !workerExported) continue;
        expect(registered, `${name} in ${expr}`).toContain(name);
      }
      for (const [, v] of expr.matchAll(/outcome=~?"([^"]+)"/g)) for (const o of v!.split('|')) expect(CALL_OUTCOMES, expr).toContain(o);
      for (const [, v] of expr.matchAll(/result=~?"([^"]+)"/g)) for (const r of v!.split('|')) expect(INGEST_RESULTS, expr).toContain(r);
    }
  });

  it('the metric-name check can fail', () => {
    expect(registeredMetricNames()).not.toContain('rrpc_calls_totals');
    expect(metricNames('sum(rate(rrpc_calls_totals{outcome="x"}[5m]))')).toEqual(['rrpc_calls_totals']);
  });

  it('alerts on timeout ratio, ingest rejects and no ready ingest', () => {
    const alerts = rules.groups.flatMap((g) => g.rules);
    const byName = Object.fromEntries(alerts.map((r) => [r.alert, r.expr]));
    expect(byName['RrpcCallTimeoutRatioHigh']).toContain('outcome="timeout"');
    expect(byName['RrpcIngestRejects']).toContain('rrpc_responses_ingested_total');
    expect(byName['RrpcNoReadyIngest']).toContain('up{job="rrpc-response-ingest"}');
  });

  const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
  if (!promtool) {
    console.warn(
      '\n' +
        '!'.repeat(100) +
        '\n!! promtool NOT INSTALLED: the alert rules were NOT checked by promtool.\n' +
        "!! Install Debian's `prometheus` package (.ci/run does) and run the tests again.\n" +
        '!'.repeat(100) +
        '\n',
    );
  }
  it.skipIf(!promtool)('pass `promtool check rules`', () => {
    const out = spawnSync('promtool', ['check', 'rules', join(repoRoot, 'deploy/prometheus/rules/rrpc-alerts.yml')], { encoding: 'utf8' });
    expect(out.status, out.stdout + out.stderr).toBe(0);
    expect(out.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });
  it.skipIf(!promtool)('pass their unit tests (`promtool test rules`)', () => {
    const out = spawnSync('promtool', ['test', 'rules', join(repoRoot, 'deploy/prometheus/rules/rrpc-alerts.test.yml')], {
      encoding: 'utf8',
    });
    expect(out.status, out.stdout + out.stderr).toBe(0);
  });
  it.skipIf(!promtool)('the Prometheus configuration passes `promtool check config`', () => {
    const out = spawnSync('promtool', ['check', 'config', '--syntax-only', join(repoRoot, 'deploy/prometheus/prometheus.yml')], {
      encoding: 'utf8',
    });
    expect(out.status, out.stdout + out.stderr).toBe(0);
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const ignore = read('.dockerignore').split('\n');

  it('is multi-stage, production dependencies only, non-root, exec-form CMD, no .env', () => {
    expect(dockerfile.match(/^FROM /gm)!.length).toBeGreaterThanOrEqual(3);
    expect(dockerfile).toMatch(/^ARG SERVICE$/m);
    expect(dockerfile).toMatch(/npm ci --omit=dev/);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(/^CMD \["node", "[^"]+"\]$/m);
    expect(dockerfile).toContain('services/%s/dist/main.js');
    expect(dockerfile).not.toMatch(/COPY[^\n]*\.env/);
    for (const entry of ['.env', '**/node_modules', '**/dist', '.git']) expect(ignore).toContain(entry);
    // Every workspace directory the build copies exists.
    for (const dir of ['packages', 'services']) expect(readdirSync(join(repoRoot, dir)).length).toBeGreaterThan(0);
  });
});
