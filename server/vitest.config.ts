import { defineConfig } from 'vitest/config';

// Integration tests (*.int.test.ts) start real servers; they run once per database:
// embedded PGlite always, PostgreSQL when TEST_DATABASE_URL is set (CI sets it).
const databases = ['pglite', ...(process.env.TEST_DATABASE_URL ? ['postgres'] : [])];

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    globalSetup: ['./test/support/global-setup.ts'],
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/**/*.int.test.ts'] },
      },
      ...databases.map((db) => ({
        extends: true as const,
        test: { name: db, include: ['test/**/*.int.test.ts'], env: { TOCSIN_TEST_DB: db } },
      })),
    ],
  },
});
