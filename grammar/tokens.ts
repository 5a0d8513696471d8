import { createToken, Lexer, type TokenType } from 'chevrotain';

export const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n\uFEFF]+/, group: Lexer.SKIPPED });
export const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n\r]*/, group: 'comments' });
/** A number written in another base (`0x1F`, `0b101`, `0o17`): not flex, reported with its decimal value. */
export const RadixNumber = createToken({ name: 'RadixNumber', pattern: /0[xXbBoO][0-9a-fA-F_]+/, group: 'invalid' });
export const BlockComment = createToken({
  name: 'BlockComment',
  pattern: /\/\*[\s\S]*?\*\//,
  group: 'comments',
  line_breaks: true,
});
/** A `/*` never closed: the rest of the file, kept from the parser and reported once (grammar/index.ts). */
export const OpenComment = createToken({
  name: 'OpenComment',
  pattern: /\/\*[\s\S]*/,
  group: 'invalid',
  line_breaks: true,
});

export const Identifier = createToken({ name: 'Identifier', pattern: /[A-Za-z_][A-Za-z0-9_]*/ });

const keyword = (word: string) =>
  createToken({
    name: word[0]!.toUpperCase() + word.slice(1),
    pattern: new RegExp(`${word}\\b`),
    longer_alt: Identifier,
  });

export const Import = keyword('import');
export const From = keyword('from');
export const Layer = keyword('layer');
export const Model = keyword('model');
export const Graph = keyword('graph');
export const Hardware = keyword('hardware');
export const Plan = keyword('plan');
export const Input = keyword('input');
export const Param = keyword('param');
export const Let = keyword('let');
export const Output = keyword('output');
export const Return = keyword('return');
export const Repeat = keyword('repeat');
export const As = keyword('as');
export const On = keyword('on');
export const Link = keyword('link');
export const True = keyword('true');
export const False = keyword('false');

/** Element types of tensors. */
export const DTYPES = ['f64', 'f32', 'f16', 'bf16', 'i64', 'i32', 'i8', 'u8'] as const;
export type DTypeName = (typeof DTYPES)[number];
export const DType = createToken({
  name: 'DType',
  // biome-ignore lint/complexity/noUselessEscapeInRegex: TextMate reuses it; Oniguruma reads `[[` as a nested class
  pattern: /(?:f64|f32|f16|bf16|i64|i32|i8|u8)\b(?=[ \t]*[\[(])/,
  longer_alt: Identifier,
  start_chars_hint: ['f', 'b', 'i', 'u'],
});

export const NumberLit = createToken({ name: 'NumberLit', pattern: /(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?/ });
/** Up to the closing quote on the line; what is inside is checked when the file is parsed (strings.ts). */
export const StringLit = createToken({ name: 'StringLit', pattern: /"(?:[^"\\\n\r]|\\[^\n\r])*"/ });

export const BiArrow = createToken({ name: 'BiArrow', pattern: /<->/ });
export const Arrow = createToken({ name: 'Arrow', pattern: /->/ });
export const Ellipsis = createToken({ name: 'Ellipsis', pattern: /\.\.\./ });
export const LBrace = createToken({ name: 'LBrace', pattern: /\{/ });
export const RBrace = createToken({ name: 'RBrace', pattern: /\}/ });
export const LParen = createToken({ name: 'LParen', pattern: /\(/ });
export const RParen = createToken({ name: 'RParen', pattern: /\)/ });
export const LBracket = createToken({ name: 'LBracket', pattern: /\[/ });
export const RBracket = createToken({ name: 'RBracket', pattern: /\]/ });
export const Comma = createToken({ name: 'Comma', pattern: /,/ });
export const Colon = createToken({ name: 'Colon', pattern: /:/ });
export const Dot = createToken({ name: 'Dot', pattern: /\./ });
export const Equals = createToken({ name: 'Equals', pattern: /=/ });
export const At = createToken({ name: 'At', pattern: /@/ });
export const Plus = createToken({ name: 'Plus', pattern: /\+/ });
export const Minus = createToken({ name: 'Minus', pattern: /-/ });
export const Star = createToken({ name: 'Star', pattern: /\*/ });
export const Slash = createToken({ name: 'Slash', pattern: /\// });

export const KEYWORDS = [
  Import,
  From,
  Layer,
  Model,
  Graph,
  Hardware,
  Plan,
  Input,
  Param,
  Let,
  Output,
  Return,
  Repeat,
  As,
  On,
  Link,
  True,
  False,
];

export const allTokens: TokenType[] = [
  WhiteSpace,
  BlockComment,
  LineComment,
  OpenComment,
  RadixNumber,
  ...KEYWORDS,
  DType,
  Identifier,
  NumberLit,
  StringLit,
  BiArrow,
  Arrow,
  Ellipsis,
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Dot,
  Equals,
  At,
  Plus,
  Minus,
  Star,
  Slash,
];

export const FlexLexer = new Lexer(allTokens, { positionTracking: 'full', ensureOptimizations: false });
