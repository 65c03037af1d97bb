import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['rrpc-source'] },
  ssr: { resolve: { conditions: ['rrpc-source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'services/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
