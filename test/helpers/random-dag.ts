/**
 * A random layered network as .flex source: `layers` layers of 1…`width` nodes; each node reads a
 * node of the layer before it and, for `mul`/`add`, any earlier node of its width (skip edges).
 * Widths differ (a `lin` node changes it), so sizes and costs are heterogeneous.
 */
export function randomDagSource(seed: number, layers: number, width: number): string {
  let s = seed >>> 0 || 1;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const WIDTHS = [8, 16, 32];
  const ACTS = ['tanh', 'relu', 'sigmoid'];
  const nodes: { name: string; d: number; layer: number }[] = [{ name: 'x', d: 16, layer: 0 }];
  const params: string[] = [];
  const lines: string[] = [];
  for (let l = 1; l <= layers; l++) {
    const prev = nodes.filter((n) => n.layer === l - 1);
    const count = 1 + Math.floor(rand() * width);
    for (let k = 0; k < count; k++) {
      const a = pick(prev);
      const name = `h${l}_${k}`;
      const partners = nodes.filter((n) => n !== a && n.d === a.d && n.layer < l);
      const kind = partners.length ? pick(['lin', 'mul', 'add', 'act', 'lin']) : pick(['lin', 'act']);
      let d = a.d;
      let expr: string;
      if (kind === 'lin') {
        d = pick(WIDTHS);
        params.push(`  param w_${name}: f32[${a.d}, ${d}] = normal(0.3)`);
        expr = `${pick(ACTS)}(${a.name} @ w_${name})`;
      } else if (kind === 'act') expr = `${pick(ACTS)}(${a.name})`;
      else expr = `${a.name} ${kind === 'mul' ? '*' : '+'} ${pick(partners).name}`;
      lines.push(`  let ${name} = ${expr}`);
      nodes.push({ name, d, layer: l });
    }
  }
  const last = nodes.filter((n) => n.layer === layers);
  params.push(...last.map((n) => `  param out_${n.name}: f32[${n.d}, 4] = normal(0.3)`));
  const logits = last.map((n) => `${n.name} @ out_${n.name}`).join(' + ');
  return [
    `model Random${seed}() {`,
    '  input x: f32[B, 16]',
    '  input y: i32[B]',
    ...params,
    ...lines,
    `  let logits = ${logits}`,
    '  output loss = cross_entropy(logits, y)',
    '}',
    '',
    'plan train {',
    `  model: Random${seed}`,
    '  bind: { B: 64 }',
    '  task: train { optimizer: sgd(lr: 0.1) }',
    '}',
    '',
  ].join('\n');
}
