import type { Plan } from '../../runtime/plan.ts';
import { fmtBytes } from '../sema/units.ts';
import type { CheckpointReport } from '../ir/graph.ts';

/** Where the arena lives: device memory (WebGPU, CUDA) or host memory (C). */
const arenaOf = (p: Plan) => (p.target === 'c' ? 'host arena:           ' : 'GPU arena:            ');

/** report.txt: kernels, buffers and the predicted peak memory of a plan (and the size of its evaluation plan). */
export function planReport(plan: Plan, source: string, forward?: Plan, checkpoint?: CheckpointReport): string {
  const lines = [`flexc build report: plan \`${plan.name}\` from ${source}`, ''];
  const launches = plan.steps.filter((s) => s.kind === 'launch').length;
  lines.push(`target:               ${plan.target}${plan.library ? ` (library ${plan.library})` : ''}`);
  lines.push(`kernels for:          ${plan.deviceClass}-class devices`);
  lines.push(
    `device limits:        buffer ${plan.limits.maxBufferSize} ` +
      `bytes, binding ${plan.limits.maxStorageBufferBindingSize} bytes`,
  );
  lines.push(`${arenaOf(plan)}${plan.arenas.gpu} bytes (${fmtBytes(plan.arenas.gpu)})`);
  lines.push(`predicted peak (live): ${plan.predictedPeakBytes} bytes (${fmtBytes(plan.predictedPeakBytes)})`);
  lines.push(`launches per step:    ${launches}`, `distinct kernels:     ${plan.kernels.length}`);
  if (checkpoint)
    lines.push(
      `checkpoint:           ${checkpoint.policy}${checkpoint.solver ? ` (${checkpoint.solver} solver)` : ''} ` +
        `over ${checkpoint.stages} stages: ${checkpoint.measured === 'arena' ? 'arena' : 'per-GPU peak'} ` +
        `${fmtBytes(checkpoint.bytesWithout)} without, ${fmtBytes(checkpoint.bytesWith)} ` +
        `with; recompute ${checkpoint.recomputeFlops} ` +
        `FLOPs (${((100 * checkpoint.recomputeFlops) / Math.max(1, checkpoint.stepFlops)).toFixed(1)}% of the step)`,
    );
  if (forward)
    lines.push(
      `forward.json:         evaluation plan, ${arenaOf(forward).replace(/:\s*$/, '')} ${forward.arenas.gpu} bytes ` +
        `(${fmtBytes(forward.arenas.gpu)}), ${forward.steps.filter((s) => s.kind === 'launch').length} launches`,
    );
  lines.push('');
  lines.push('kernels');
  for (const k of plan.kernels) lines.push(`  ${k.name.padEnd(28)} ${k.ops.join(', ')}`);
  lines.push('', 'buffers (offset, bytes, role, dtype[shape], name)');
  for (const b of plan.buffers)
    lines.push(
      `  ${String(b.offset).padStart(10)} ${String(b.bytes).padStart(10)}  ` +
        `${b.role.padEnd(5)} ${`${b.dtype}[${b.shape.join(',')}]`.padEnd(18)} ${b.name}`,
    );
  return `${lines.join('\n')}\n`;
}
