import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ENV_VARS, COMMON_ENV_VARS, INGEST_ENV_VARS, WORKER_ENV_VARS } from '@rrpc/config';

/** The README's configuration table documents every variable the services read, and nothing else. */
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const table = readme.slice(readme.indexOf('| variable | services | default | meaning |'));
const documented = new Set(
  table
    .slice(0, table.indexOf('\n\n'))
    .split('\n')
    .flatMap((row) => (row.split('|')[1] ?? '').match(/`([A-Z0-9_]+)`/g) ?? [])
    .map((name) => name.replaceAll('`', '')),
);

describe('README configuration table', () => {
  it('lists every environment variable the services read', () => {
    const read = new Set([...COMMON_ENV_VARS, ...API_ENV_VARS, ...INGEST_ENV_VARS, ...WORKER_ENV_VARS]);
    expect([...read].filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !read.has(name))).toEqual([]);
  });
});
