import { median } from '../compiler/cli/probe.ts';
import type { Session } from '../runtime/session.ts';

/**
 * Runs a session's step once to warm up, then `steps` times; returns the median milliseconds, the step's peak memory
 * (the highest arena byte its launches bind) and its launches, and closes the session.
 */
export async function timeSteps(s: Session, steps: number): Promise<{ ms: number; peak: number; launches: number }> {
  await s.run();
  const ms: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await s.run();
    ms.push(performance.now() - t0);
  }
  const out = { ms: median(ms), peak: s.measuredPeakBytes, launches: s.launches };
  s.destroy();
  return out;
}
