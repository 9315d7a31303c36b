import { defineConfig } from 'vitest/config';

// Two projects: `unit` (no services) and `e2e` (needs the test bed). The e2e
// project's globalSetup raises the bed, and vitest runs it only when e2e files
// are selected: `vitest run test/unit` needs no bed.
const E2E_TIMEOUT = 15 * 60_000;

export default defineConfig({
  test: {
    pool: 'forks',
    // globalSetup teardown (`testbed.sh down`) stops dockerd/buildkitd.
    teardownTimeout: 120_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/env/global-setup.ts'],
          // 2 cores and one buildkitd/dockerd: e2e files run one at a time.
          fileParallelism: false,
          testTimeout: E2E_TIMEOUT,
          hookTimeout: E2E_TIMEOUT,
        },
      },
    ],
  },
});
