import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:unit`: the tests beside the code that need no server, for the edit-test loop (seconds).
 * A test that imports the harness (`@rrpc/testing`: private redis-server, mosquitto, free ports) is an
 * integration test and runs only in `npm test`, as does everything under test/.
 */
const besideTheCode = ['packages', 'services'].flatMap((root) =>
  readdirSync(root).flatMap((name) => {
    const src = join(root, name, 'src');
    try {
      return readdirSync(src, { recursive: true, encoding: 'utf8' })
        .filter((file) => file.endsWith('.test.ts'))
        .map((file) => join(src, file));
    } catch {
      return []; // no src folder
    }
  }),
);
const unit = besideTheCode.filter((file) => !readFileSync(file, 'utf8').includes("from '@rrpc/testing'"));

export default defineConfig({ ...base, test: { ...base.test, include: unit } });
