import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { API_ENV_VARS, COMMON_ENV_VARS, INGEST_ENV_VARS, WORKER_ENV_VARS } from '@rrpc/config';

/** The configuration table (docs/configuration.md) documents every variable the services read, and nothing else. */
const page = readFileSync(new URL('../docs/configuration.md', import.meta.url), 'utf8');
const header = page.indexOf('| variable | services | default | meaning |');
if (header < 0) throw new Error('docs/configuration.md has no configuration table');
const table = page.slice(header);
const documented = new Set(
  table
    .slice(0, table.indexOf('\n\n'))
    .split('\n')
    .flatMap((row) => (row.split('|')[1] ?? '').match(/`([A-Z0-9_]+)`/g) ?? [])
    .map((name) => name.replaceAll('`', '')),
);

describe('the configuration table in docs/configuration.md', () => {
  it('lists every environment variable the services read', () => {
    const read = new Set([...COMMON_ENV_VARS, ...API_ENV_VARS, ...INGEST_ENV_VARS, ...WORKER_ENV_VARS]);
    expect([...read].filter((name) => !documented.has(name))).toEqual([]);
    expect([...documented].filter((name) => !read.has(name))).toEqual([]);
  });
});
