import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

describe('the README', () => {
  const readme = readFileSync('README.md', 'utf8');

  it('its GPT excerpt is examples/gpt.flex, line for line and in order', () => {
    const block = /from `examples\/gpt.flex`[^\n]*\n\n```flex\n([\s\S]*?)```/.exec(readme)![1]!;
    const file = readFileSync('examples/gpt.flex', 'utf8').split('\n');
    let at = 0;
    for (const line of block.split('\n').filter((l) => l.trim())) {
      const found = file.indexOf(line, at);
      expect(found, `README line not in examples/gpt.flex (in order): ${line}`).toBeGreaterThanOrEqual(0);
      at = found + 1;
    }
  });

  it('names every command of the CLI in its reference', async () => {
    const main = readFileSync('compiler/cli/main.ts', 'utf8');
    // a subcommand hangs off a variable named as its parent command (`const hw = program.command('hw')`)
    for (const [, parent, cmd] of main.matchAll(/(\w+)\s*\.command\('(\w+)'\)/g)) {
      const full = parent === 'program' ? cmd! : `${parent} ${cmd}`;
      expect(readme, full).toContain(`| \`flexc ${full}`);
    }
  });
});
