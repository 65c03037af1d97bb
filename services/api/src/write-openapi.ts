/**
 * Writes the OpenAPI document to the path given as the first argument (npm run openapi → docs/openapi.json).
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { buildOpenApi, formatOpenApi } from './openapi.js';

const target = process.argv[2];
if (!target) {
  process.stderr.write('usage: node services/api/dist/write-openapi.js <path>\n');
  process.exit(2);
}
writeFileSync(resolve(target), formatOpenApi(buildOpenApi()));
process.stdout.write(`wrote ${target}\n`);
