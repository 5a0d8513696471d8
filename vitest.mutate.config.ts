import { defineConfig } from 'vitest/config';

// The tests a mutation run (npm run mutate) uses: those of the mutated folders, without the
// WebGPU, package and CLI-process suites (too slow to rerun for every mutant on two cores).
// FLEXC_MUTATION_TESTS (comma-separated globs) narrows them to the tests of one folder, and
// FLEXC_MUTATION_SKIP (a pattern of test names) leaves out its slowest tests.
const all = [
  'test/ir/**/*.test.ts',
  'test/passes/**/*.test.ts',
  'test/remat/**/*.test.ts',
  'test/cost/**/*.test.ts',
  'test/codegen/memory.test.ts',
  'test/interp/plan-session.test.ts',
];

const skip = process.env.FLEXC_MUTATION_SKIP;

export default defineConfig({
  test: {
    include: process.env.FLEXC_MUTATION_TESTS?.split(',') ?? all,
    // Dawn finds no adapter in Stryker's test processes
    testNamePattern: new RegExp(`^(?!.*(WebGPU${skip ? `|${skip}` : ''}))`),
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
