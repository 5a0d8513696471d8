import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // two test files at a time (vitest's default is one fewer than the cores: one on these 2-core machines); nothing a
    // test file writes is shared with another but the product's own caches, which are written atomically
    maxWorkers: 2,
    reporters: ['default'],
  },
});
