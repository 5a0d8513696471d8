import { CATEGORIES, type Breakdown, type MemoryTimeline } from '../cost/memory.ts';
import { fmtBytes } from '../sema/units.ts';

const COLORS: Record<string, string> = {
  total: '#111111',
  parameters: '#1f77b4',
  gradients: '#d62728',
  optimizer: '#9467bd',
  activations: '#2ca02c',
  kv_cache: '#ff7f0e',
  workspace: '#8c564b',
  host: '#17becf',
  ssd: '#7f7f7f',
};
const W = 900;
const H = 420;
const PAD = { left: 80, right: 170, top: 40, bottom: 50 };

/** At most `n` points: the largest value of each bucket, so that peaks survive. */
function downsample(points: Breakdown[], n: number): { at: number; b: Breakdown; total: number }[] {
  const sum = (b: Breakdown) => CATEGORIES.reduce((a, c) => a + b[c], 0);
  const size = Math.max(1, Math.ceil(points.length / n));
  const out: { at: number; b: Breakdown; total: number }[] = [];
  for (let i = 0; i < points.length; i += size) {
    let best = i;
    for (let j = i; j < Math.min(points.length, i + size); j++) if (sum(points[j]!) > sum(points[best]!)) best = j;
    out.push({ at: best, b: points[best]!, total: sum(points[best]!) });
  }
  return out;
}

export interface MemoryPanel {
  title: string;
  timeline: MemoryTimeline;
  budget: number | null;
  capacity: number | null;
}

/** One SVG with a panel per plan, stacked top to bottom. */
export function memorySvg(panels: MemoryPanel[]): string {
  const n = Math.max(1, panels.length);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H * n}" ` +
      `viewBox="0 0 ${W} ${H * n}" font-family="sans-serif" font-size="12">`,
    ...panels.map((p, k) => memoryPanel(p, k * H)),
    '</svg>',
    '',
  ].join('\n');
}

/**
 * GPU memory over one step: a line per category and the total, the budget and the GPU's capacity as dashed lines, where
 * the backward pass starts; with placement, what host memory and the SSD hold, dashed.
 */
function memoryPanel({ title, timeline: t, budget, capacity }: MemoryPanel, top0: number): string {
  const pts = downsample(t.points, 600);
  const held = (k: 'host' | 'ssd') => Math.max(0, ...t.tierPoints.map((p) => p[k]));
  const top = Math.max(t.gpu.peak_bytes, budget ?? 0, held('host'), held('ssd'), 1) * 1.08;
  const x = (i: number) => PAD.left + ((W - PAD.left - PAD.right) * i) / Math.max(1, t.points.length - 1);
  const y = (b: number) => H - PAD.bottom - ((H - PAD.top - PAD.bottom) * b) / top;
  const f = (n: number) => n.toFixed(1);
  const line = (vals: number[], color: string, width: number) =>
    `<polyline fill="none" stroke="${color}" stroke-width="${width}" ` +
    `points="${pts.map((p, k) => `${f(x(p.at))},${f(y(vals[k]!))}`).join(' ')}"/>`;
  const out: string[] = [
    `<svg x="0" y="${top0}" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${PAD.left}" y="22" font-size="15">${esc(title)}: GPU ` +
      `memory over one step (peak ${fmtBytes(t.gpu.peak_bytes)})</text>`,
    `<line x1="${PAD.left}" y1="${H - PAD.bottom}" x2="${W - PAD.right}" y2="${H - PAD.bottom}" stroke="#888"/>`,
    `<line x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${H - PAD.bottom}" stroke="#888"/>`,
    `<text x="${(W - PAD.right + PAD.left) / 2}" y="${H - 12}" text-anchor="middle">ops in execution order</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const b = (top * k) / 4;
    out.push(
      `<text x="${PAD.left - 6}" y="${f(y(b) + 4)}" text-anchor="end">${fmtBytes(b)}</text>`,
      `<line x1="${PAD.left}" y1="${f(y(b))}" x2="${W - PAD.right}" y2="${f(y(b))}" stroke="#eee"/>`,
    );
  }
  if (t.backwardAt !== undefined)
    out.push(
      `<line x1="${f(x(t.backwardAt))}" y1="${PAD.top}" x2="${f(x(t.backwardAt))}" ` +
        `y2="${H - PAD.bottom}" stroke="#bbb" stroke-dasharray="2,3"/>`,
      `<text x="${f(x(t.backwardAt) + 4)}" y="${PAD.top + 12}" fill="#777">backward</text>`,
    );
  const legend: [string, string][] = [];
  for (const [name, value, dash] of [
    ['budget', budget, '8,4'],
    ['GPU memory', capacity, '3,3'],
  ] as const)
    if (value !== null && value <= top) {
      out.push(
        `<line x1="${PAD.left}" y1="${f(y(value))}" x2="${W - PAD.right}" ` +
          `y2="${f(y(value))}" stroke="#e00" stroke-dasharray="${dash}"/>`,
      );
      legend.push([`${name} ${fmtBytes(value)}`, '#e00']);
    }
  out.push(
    line(
      pts.map((p) => p.total),
      COLORS['total']!,
      2,
    ),
  );
  legend.unshift(['total', COLORS['total']!]);
  for (const c of CATEGORIES) {
    if (!t.points.some((p) => p[c] > 0)) continue;
    out.push(
      line(
        pts.map((p) => p.b[c]),
        COLORS[c]!,
        1.2,
      ),
    );
    legend.push([c.replace('_', ' '), COLORS[c]!]);
  }
  // placement's tiers, on the same scale: leaves kept in host memory and activations waiting there or on the SSD
  for (const k of ['host', 'ssd'] as const) {
    if (!held(k)) continue;
    out.push(
      line(
        pts.map((p) => t.tierPoints[p.at]![k]),
        COLORS[k]!,
        1.5,
      ).replace('<polyline ', '<polyline stroke-dasharray="6,3" '),
    );
    legend.push([k === 'host' ? 'host memory (placed)' : 'SSD (placed)', COLORS[k]!]);
  }
  legend.forEach(([label, color], k) => {
    const ly = PAD.top + 10 + k * 18;
    out.push(
      `<line x1="${W - PAD.right + 12}" y1="${ly}" x2="${W - PAD.right + 32}" ` +
        `y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${W - PAD.right + 38}" y="${ly + 4}">${esc(label)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
