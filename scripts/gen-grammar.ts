// Writes the TextMate grammars generated from the lexer (compiler/editors/textmate.ts); a test checks they are current.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { grammarFiles } from '../compiler/editors/textmate.ts';

for (const [path, text] of Object.entries(grammarFiles())) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  process.stderr.write(`wrote ${path}\n`);
}
