/**
 * Readers for the deployment files, used by test/deployment.test.ts:
 * - parseHocon: the HOCON subset our EMQX configuration uses (objects, arrays, dotted keys, quoted,
 *   triple-quoted and bare values, comments). Later keys merge into earlier objects, as in HOCON.
 * - renderKustomize: `kubectl kustomize` when kubectl is installed, else a small renderer for the
 *   kustomize features k8s/ uses (resources, namespace, images, generators, JSON 6902 patches).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type HoconValue = string | number | boolean | HoconObject | HoconValue[];
export interface HoconObject {
  [key: string]: HoconValue;
}

export function parseHocon(text: string): HoconObject {
  let i = 0;
  const fail = (what: string): never => {
    throw new Error(`HOCON: ${what} at offset ${i}: ${JSON.stringify(text.slice(i, i + 40))}`);
  };
  const skip = (newlines = true) => {
    for (;;) {
      const c = text[i];
      if (c === '#' || (c === '/' && text[i + 1] === '/')) {
        while (i < text.length && text[i] !== '\n') i++;
      } else if (c === ' ' || c === '\t' || c === '\r' || (newlines && c === '\n') || (newlines && c === ',')) {
        i++;
      } else return;
    }
  };
  const quoted = (): string => {
    if (text.startsWith('"""', i)) {
      const end = text.indexOf('"""', i + 3);
      if (end < 0) fail('unterminated """');
      let stop = end;
      while (text[stop + 3] === '"') stop++; // extra quotes before the closing """ belong to the string
      const s = text.slice(i + 3, stop);
      i = stop + 3;
      return s;
    }
    i++;
    let s = '';
    while (text[i] !== '"') {
      if (i >= text.length || text[i] === '\n') fail('unterminated string');
      if (text[i] === '\\') {
        const n = text[i + 1];
        s += n === 'n' ? '\n' : n === 't' ? '\t' : (n ?? '');
        i += 2;
      } else s += text[i++];
    }
    i++;
    return s;
  };
  const key = (): string[] => {
    const parts: string[] = [];
    for (;;) {
      if (text[i] === '"') parts.push(quoted());
      else {
        const m = /^[A-Za-z0-9_\-$]+/.exec(text.slice(i));
        if (!m) fail('expected a key');
        parts.push(m![0]);
        i += m![0].length;
      }
      if (text[i] !== '.') return parts;
      i++;
    }
  };
  const value = (): HoconValue => {
    skip(false);
    const c = text[i];
    if (c === '{') return object(true);
    if (c === '[') {
      i++;
      const items: HoconValue[] = [];
      for (;;) {
        skip();
        if (text[i] === ']') {
          i++;
          return items;
        }
        items.push(value());
      }
    }
    if (c === '"') return quoted();
    const m = /^[^\n,#}\]]+/.exec(text.slice(i));
    if (!m) fail('expected a value');
    i += m![0].length;
    const raw = m![0].trim();
    if (raw === 'true' || raw === 'false') return raw === 'true';
    return /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
  };
  const object = (braced: boolean): HoconObject => {
    const out: HoconObject = {};
    if (braced) i++;
    for (;;) {
      skip();
      if (i >= text.length) {
        if (braced) fail('unterminated {');
        return out;
      }
      if (text[i] === '}') {
        if (!braced) fail('unexpected }');
        i++;
        return out;
      }
      const path = key();
      skip(false);
      if (text[i] === '=' || text[i] === ':') i++;
      else if (text[i] !== '{') fail('expected = or {');
      set(out, path, value());
    }
  };
  return object(false);
}

function set(target: HoconObject, path: string[], v: HoconValue): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (rest.length === 0) {
    const old = target[head];
    target[head] = isObject(old) && isObject(v) ? merge(old, v) : v;
    return;
  }
  const next = isObject(target[head]) ? target[head] : (target[head] = {});
  set(next, rest, v);
}

function isObject(v: unknown): v is HoconObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(a: HoconObject, b: HoconObject): HoconObject {
  const out: HoconObject = { ...a };
  for (const [k, v] of Object.entries(b)) set(out, [k], v);
  return out;
}

/** Follows a dotted path (numeric segments index arrays, 0-based) through parsed HOCON/YAML. */
export function at(root: unknown, path: string): unknown {
  let cur: unknown = root;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

// ---------------------------------------------------------------------------------------------------
// kustomize

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export function readYamlDocs(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { merge: true })
    .map((d) => {
      if (d.errors.length > 0) throw new Error(`${file}: ${d.errors[0]?.message}`);
      return d.toJS() as K8sObject;
    })
    .filter((o) => o !== null);
}

export function kubectlAvailable(): boolean {
  return spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
}

export function renderWithKubectl(dir: string): K8sObject[] {
  const out = spawnSync('kubectl', ['kustomize', dir], { encoding: 'utf8', maxBuffer: 32 * 1024 * 1024 });
  if (out.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${out.stderr}`);
  return parseAllDocuments(out.stdout).map((d) => d.toJS() as K8sObject);
}

interface Kustomization {
  namespace?: string;
  resources?: string[];
  labels?: Array<{ pairs: Record<string, string>; includeSelectors?: boolean }>;
  images?: Array<{ name: string; newName?: string; newTag?: string }>;
  configMapGenerator?: Array<{ name: string; behavior?: string; literals?: string[]; files?: string[] }>;
  secretGenerator?: Array<{ name: string; literals?: string[] }>;
  patches?: Array<{ target: { kind?: string; name?: string; group?: string }; patch: string }>;
}

/** The kustomize features k8s/ uses, enough to check the manifests where kubectl is not installed. */
export function renderKustomize(dir: string): K8sObject[] {
  const k = readYamlDocs(join(dir, 'kustomization.yaml'))[0] as unknown as Kustomization;
  let objects: K8sObject[] = [];
  for (const r of k.resources ?? []) {
    const p = resolve(dir, r);
    objects.push(...(existsSync(join(p, 'kustomization.yaml')) ? renderKustomize(p) : readYamlDocs(p)));
  }
  for (const g of k.configMapGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const l of g.literals ?? []) data[l.slice(0, l.indexOf('='))] = l.slice(l.indexOf('=') + 1);
    for (const f of g.files ?? []) {
      const [name, file] = f.includes('=') ? f.split('=') : [f, f];
      data[name!] = readFileSync(resolve(dir, file!), 'utf8');
    }
    const existing = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === g.name);
    if (g.behavior === 'merge' && existing) existing['data'] = { ...(existing['data'] as object), ...data };
    else objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: g.name }, data });
  }
  for (const g of k.secretGenerator ?? []) {
    const data: Record<string, string> = {};
    for (const l of g.literals ?? []) data[l.slice(0, l.indexOf('='))] = Buffer.from(l.slice(l.indexOf('=') + 1)).toString('base64');
    objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: g.name }, type: 'Opaque', data });
  }
  for (const l of k.labels ?? []) for (const o of objects) o.metadata.labels = { ...o.metadata.labels, ...l.pairs };
  for (const p of k.patches ?? []) {
    const ops = parseAllDocuments(p.patch)[0]!.toJS() as Array<{ op: string; path: string; value?: unknown }>;
    const name = p.target.name === undefined ? undefined : new RegExp(`^(${p.target.name})$`);
    for (const o of objects) {
      if (p.target.kind !== undefined && o.kind !== p.target.kind) continue;
      if (name !== undefined && !name.test(o.metadata.name)) continue;
      if (p.target.group !== undefined && !o.apiVersion.startsWith(`${p.target.group}/`)) continue;
      for (const op of ops) applyOp(o, op);
    }
  }
  for (const img of k.images ?? []) {
    walk(objects, (node) => {
      if (typeof node['image'] === 'string' && node['image'].split(':')[0] === img.name) {
        node['image'] = `${img.newName ?? img.name}:${img.newTag ?? 'latest'}`;
      }
    });
  }
  if (k.namespace !== undefined) {
    objects = objects.map((o) => (o.kind === 'Namespace' ? o : { ...o, metadata: { ...o.metadata, namespace: k.namespace } }));
  }
  return objects;
}

function applyOp(obj: unknown, op: { op: string; path: string; value?: unknown }): void {
  const parts = op.path.split('/').slice(1);
  const last = parts.pop()!;
  let cur = obj as Record<string, unknown>;
  for (const p of parts) cur = cur[p] as Record<string, unknown>;
  if (cur === undefined) throw new Error(`patch path ${op.path} does not exist`);
  if (op.op === 'remove') {
    if (!(last in cur)) throw new Error(`patch remove: ${op.path} does not exist`);
    delete cur[last];
  } else if (op.op === 'replace') {
    if (!(last in cur)) throw new Error(`patch replace: ${op.path} does not exist`);
    cur[last] = op.value;
  } else if (op.op === 'add') cur[last] = op.value;
  else throw new Error(`unsupported patch op ${op.op}`);
}

function walk(node: unknown, visit: (n: Record<string, unknown>) => void): void {
  if (Array.isArray(node)) node.forEach((n) => walk(n, visit));
  else if (node !== null && typeof node === 'object') {
    visit(node as Record<string, unknown>);
    Object.values(node).forEach((n) => walk(n, visit));
  }
}

export const repoRoot = resolve(dirname(new URL(import.meta.url).pathname), '..');
