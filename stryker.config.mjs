// Mutation testing (StrykerJS with the vitest runner): `npm run mutate` over the folders whose maths
// the suite must pin down; `npm run mutate -- --mutate compiler/codegen/memory.ts` for one file.
// Too slow for every CI run on two cores: run it by hand; the report lands in reports/mutation/.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutate.config.ts' },
  dryRunTimeoutMinutes: 20,
  plugins: ['@stryker-mutator/vitest-runner'],
  mutate: [
    'compiler/ir/ops/**/*.ts',
    'compiler/passes/**/*.ts',
    'compiler/remat/**/*.ts',
    'compiler/codegen/memory.ts',
    'compiler/cost/**/*.ts',
  ],
  coverageAnalysis: 'perTest',
  ignoreStatic: true,
  concurrency: 2,
  timeoutMS: 120_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  // keep the link to the shared data (scripts/mutate.mjs) between runs
  cleanTempDir: false,
};
