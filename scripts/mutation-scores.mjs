// `node scripts/mutation-scores.mjs [--survivors]`: adds up the mutation reports in
// reports/mutation/*.json (written by `npm run mutate`, one per run; the newest report of a file
// wins) per folder, with each file's score; --survivors lists the mutants that lived, by file and
// line. The score is Stryker's: killed and timed-out mutants over all that were tested (those no
// test covers count as survivors; static and ignored ones are left out).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../reports/mutation', import.meta.url));
if (!existsSync(dir) || !readdirSync(dir).some((f) => f.endsWith('.json'))) {
  console.error(`mutation-scores: no reports in ${dir}: run \`npm run mutate\` first (see docs/mutation-testing.md)`);
  process.exit(1);
}
const files = new Map();
const byAge = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort((a, b) => statSync(`${dir}/${a}`).mtimeMs - statSync(`${dir}/${b}`).mtimeMs);
for (const f of byAge) {
  let report;
  try {
    report = JSON.parse(readFileSync(`${dir}/${f}`, 'utf8'));
    if (typeof report.files !== 'object') throw new Error('no `files`');
  } catch (e) {
    console.error(`mutation-scores: ${dir}/${f} is not a Stryker JSON report (${e.message}); remove it or run again`);
    process.exit(1);
  }
  for (const [path, file] of Object.entries(report.files)) files.set(path, { ...file, report: f });
}
const DETECTED = new Set(['Killed', 'Timeout']);
const COUNTED = new Set(['Killed', 'Timeout', 'Survived', 'NoCoverage']);
const folderOf = (path) => (path === 'compiler/codegen/memory.ts' ? path : path.split('/').slice(0, -1).join('/'));
const folders = new Map();
const rows = [];
for (const [path, file] of [...files].sort()) {
  const counted = file.mutants.filter((m) => COUNTED.has(m.status));
  const detected = counted.filter((m) => DETECTED.has(m.status)).length;
  const f = folders.get(folderOf(path)) ?? { detected: 0, counted: 0 };
  f.detected += detected;
  f.counted += counted.length;
  folders.set(folderOf(path), f);
  rows.push({ path, detected, counted: counted.length, file });
}
const pct = (a, b) => (b ? ((100 * a) / b).toFixed(2) : '—').padStart(6);
for (const [folder, f] of folders) {
  console.log(
    `${pct(f.detected, f.counted)}%  ${String(f.detected).padStart(5)}/${String(f.counted).padEnd(5)} ${folder}`,
  );
  for (const r of rows.filter((r) => folderOf(r.path) === folder))
    console.log(
      `    ${pct(r.detected, r.counted)}%  ${String(r.detected).padStart(5)}/${String(r.counted).padEnd(5)} ${r.path}`,
    );
}
if (process.argv.includes('--survivors'))
  for (const r of rows) {
    const lived = r.file.mutants.filter((m) => m.status === 'Survived' || m.status === 'NoCoverage');
    if (!lived.length) continue;
    console.log(`\n${r.path}`);
    const lines = r.file.source.split('\n');
    for (const m of lived.sort((a, b) => a.location.start.line - b.location.start.line)) {
      const line = lines[m.location.start.line - 1].trim().slice(0, 100);
      const at = `${m.location.start.line}:${m.location.start.column}`;
      console.log(`  ${at} ${m.mutatorName} → ${JSON.stringify(m.replacement ?? '')}`);
      console.log(`      ${line}`);
    }
  }
