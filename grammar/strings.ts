/**
 * String literals: `"` … `"` on one line. Any character but `"`, `\` and control characters
 * (U+0000–U+001F, U+007F) stands for itself; escapes are `\"`, `\\`, `\/`, `\b`, `\f`, `\n`,
 * `\r`, `\t` and `\u` with four hex digits.
 */
export type Decoded = { value: string } | { error: string; at: number; length: number };

const ESCAPES: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** Decodes a literal's image (quotes included); `at` is the offset of a problem within the image. */
export function decodeString(image: string): Decoded {
  let value = '';
  for (let i = 1; i < image.length - 1; i++) {
    const c = image[i]!;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code === 0x7f)
      return {
        error: `a string cannot hold the control character U+${code.toString(16).toUpperCase().padStart(4, '0')}`,
        at: i,
        length: 1,
      };
    if (c !== '\\') {
      value += c;
      continue;
    }
    const e = image[i + 1]!;
    if (e === 'u') {
      const hex = image.slice(i + 2, i + 6);
      if (!/^[0-9a-fA-F]{4}$/.test(hex))
        return { error: '`\\u` needs four hex digits', at: i, length: Math.min(6, image.length - 1 - i) };
      value += String.fromCharCode(Number.parseInt(hex, 16));
      i += 5;
    } else if (ESCAPES[e] !== undefined) {
      value += ESCAPES[e];
      i++;
    } else return { error: `unknown escape \`\\${e}\``, at: i, length: 2 };
  }
  return { value };
}
