// Mutation testing (StrykerJS with the vitest runner): `npm run mutate` over the folders whose maths
// the suite must pin down; `npm run mutate -- --mutate compiler/codegen/memory.ts` for one file.
// Too slow for every CI run on two cores: run it by hand, a folder at a time with
// FLEXC_MUTATION_REPORT=<name>; reports land in reports/mutation/<name>.{json,html} and
// `node scripts/mutation-scores.mjs` adds them up per folder.
const report = process.env.FLEXC_MUTATION_REPORT ?? 'mutation';

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
  // a mutant that loops forever is stopped this long after the time its tests took without it
  timeoutMS: 10_000,
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: `reports/mutation/${report}.html` },
  jsonReporter: { fileName: `reports/mutation/${report}.json` },
  thresholds: { high: 90, low: 80, break: null },
  tempDirName: '.stryker-tmp',
  // keep the link to the shared data (scripts/mutate.mjs) between runs
  cleanTempDir: false,
};
