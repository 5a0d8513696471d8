import type { PlanSummary } from '../cost/plan-summary.ts';
import { fmtBytes } from '../sema/units.ts';

/** One plan as `flexc plan --compare` sets it beside the others. */
export interface ComparedPlan {
  file: string;
  plan: string;
  task: string;
  hardware: string | null;
  gpus: number;
  partition: string;
  /** Training: tokens per second of the whole cluster. */
  training_tokens_per_second?: number;
  /** Serving: one replica's time to the first token and per generated token; the cluster's tokens/s. */
  time_to_first_token_seconds?: number;
  time_per_output_token_seconds?: number;
  serving_tokens_per_second?: number;
  memory_per_gpu_bytes: number;
  fits: boolean | null;
  bottleneck: string | null;
  /** The share of the cluster's capacity lost when one package fails: the GPUs of its replica, of all of them. */
  blast_radius: number;
}

/**
 * A plan's row: its partition, throughput (serving: one replica's latencies, every replica's tokens), memory per
 * GPU, bottleneck and blast radius — a failed package takes down the model replica it belongs to (tensor × pipeline
 * GPUs), the other replicas carry on.
 */
export function comparedPlan(s: PlanSummary & { file: string }, gpus: number): ComparedPlan {
  const p = s.parallel;
  const replica = (p.tensor ?? 1) * (p.pipeline ?? 1);
  const partition =
    [
      (p.tensor ?? 1) > 1 ? `tensor ${p.tensor}${p.sequence ? ' + sequence' : ''}` : '',
      (p.pipeline ?? 1) > 1 ? `pipeline ${p.pipeline}` : '',
      p.data > 1 ? `${s.task === 'infer' ? 'replicas' : 'data'} ${p.data}` : '',
      p.zero ? `ZeRO-${p.zero}` : '',
    ]
      .filter(Boolean)
      .join(' × ') || 'one GPU';
  const row: ComparedPlan = {
    file: s.file,
    plan: s.plan,
    task: s.task,
    hardware: s.hardware,
    gpus,
    partition,
    memory_per_gpu_bytes: s.memory.gpu.peak_bytes,
    fits: s.memory.gpu.fits,
    bottleneck: s.bottleneck,
    blast_radius: gpus > 0 ? replica / gpus : 1,
  };
  if (s.serving && s.time) {
    row.time_to_first_token_seconds = s.serving.time_to_first_token_seconds;
    row.time_per_output_token_seconds = s.serving.decode_seconds_per_token;
    row.serving_tokens_per_second = s.serving.decode_tokens_per_second; // every replica's (cost/serving.ts)
  } else if (s.throughput?.tokens_per_second) row.training_tokens_per_second = s.throughput.tokens_per_second;
  return row;
}

const seconds = (x: number) => (x >= 1 ? `${x.toPrecision(3)} s` : `${(x * 1e3).toPrecision(3)} ms`);
const rate = (x: number) => Math.round(x).toLocaleString('en-US');

/** The comparison as a Markdown table (what the README shows). */
export function compareTable(rows: ComparedPlan[]): string {
  const head = [
    'plan',
    'hardware',
    'partition',
    'training tokens/s',
    'first token',
    'per token',
    'serving tokens/s',
    'memory per GPU',
    'bottleneck',
    'blast radius',
  ];
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) {
    const cells = [
      r.plan,
      `${r.hardware ?? '—'} (${r.gpus} GPUs)`,
      r.partition,
      r.training_tokens_per_second !== undefined ? rate(r.training_tokens_per_second) : '—',
      r.time_to_first_token_seconds !== undefined ? seconds(r.time_to_first_token_seconds) : '—',
      r.time_per_output_token_seconds !== undefined ? seconds(r.time_per_output_token_seconds) : '—',
      r.serving_tokens_per_second !== undefined ? rate(r.serving_tokens_per_second) : '—',
      `${fmtBytes(r.memory_per_gpu_bytes)}${r.fits === false ? ' (does not fit)' : ''}`,
      (r.bottleneck ?? '—').replace(/\|/g, '/'),
      `${(100 * r.blast_radius).toFixed(r.blast_radius < 0.1 ? 1 : 0)}%`,
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return `${lines.join('\n')}\n`;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** The comparison drawn: each plan's throughput (against the best of its kind) and its memory per GPU. */
export function compareSvg(rows: ComparedPlan[]): string {
  const w = 960;
  const rowH = 26;
  const top = 40;
  const label = 260;
  const bar = (w - label - 40) / 2;
  const tput = (r: ComparedPlan) => r.training_tokens_per_second ?? r.serving_tokens_per_second ?? 0;
  const best = new Map<string, number>();
  for (const r of rows) best.set(r.task, Math.max(best.get(r.task) ?? 0, tput(r)));
  const mem = Math.max(1, ...rows.map((r) => r.memory_per_gpu_bytes));
  const h = top + rows.length * rowH + 20;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="12">`,
    `<text x="${label}" y="20">tokens/s (bar: of the fastest plan with the same task)</text>`,
    `<text x="${label + bar + 20}" y="20">memory per GPU (of ${esc(fmtBytes(mem))})</text>`,
  ];
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const t = tput(r) / Math.max(1, best.get(r.task) ?? 1);
    const m = r.memory_per_gpu_bytes / mem;
    parts.push(
      `<text x="4" y="${y + 14}">${esc(`${r.plan} (${r.hardware ?? '?'}, ${r.gpus} GPUs)`)}</text>`,
      `<rect x="${label}" y="${y + 3}" width="${(t * bar).toFixed(1)}" height="${rowH - 8}" fill="#4878a8"/>`,
      `<text x="${(label + t * bar + 4).toFixed(1)}" y="${y + 14}">${esc(rate(tput(r)))} tokens/s</text>`,
      `<rect x="${label + bar + 20}" y="${y + 3}" width="${(m * bar).toFixed(1)}" height="${rowH - 8}" ` +
        `fill="${r.fits === false ? '#c0504d' : '#9bbb59'}"/>`,
      `<text x="${(label + bar + 24 + m * bar).toFixed(1)}" y="${y + 14}">` +
        `${esc(fmtBytes(r.memory_per_gpu_bytes))}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
