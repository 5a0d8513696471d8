import { describe, expect, it } from 'vitest';
import { loadText, textBatch } from '../../runtime/data/text.ts';

const spec = { file: '../shared/data/tinyshakespeare/input.txt', split: 0.9 };

describe('character-level text data', () => {
  it('reads Tiny Shakespeare as its 65 distinct characters', () => {
    const t = loadText(spec.file);
    expect(t.vocab.length).toBe(65);
    expect(t.ids.length).toBe(1_115_394);
  });
  it(
    'batches are deterministic, targets are the tokens shifted by ' +
      'one, and train and validation windows stay in their parts',
    () => {
      const { ids } = loadText(spec.file);
      const cut = Math.floor(ids.length * 0.9);
      const tok = textBatch(spec, 'train', 'tokens', [4, 16], 7, 0);
      const tgt = textBatch(spec, 'train', 'targets', [4, 16], 7, 0);
      expect(textBatch(spec, 'train', 'tokens', [4, 16], 7, 0)).toEqual(tok);
      expect(Array.from(tok.slice(1, 16))).toEqual(Array.from(tgt.slice(0, 15)));
      expect(textBatch(spec, 'train', 'tokens', [4, 16], 8, 0)).not.toEqual(tok);
      const findStart = (row: Int32Array) => {
        for (let s = 0; s + row.length <= ids.length; s++) if (row.every((c, j) => ids[s + j] === c)) return s;
        return -1;
      };
      for (const [part, lo, hi] of [
        ['train', 0, cut],
        ['val', cut, ids.length],
      ] as const) {
        const b = textBatch(spec, part, 'tokens', [3, 32], 1, 0);
        for (let r = 0; r < 3; r++) {
          const s = findStart(b.slice(r * 32, r * 32 + 32));
          expect(s, `${part} row ${r}`).toBeGreaterThanOrEqual(lo);
          expect(s + 32, `${part} row ${r}`).toBeLessThan(hi);
        }
      }
    },
  );
});
