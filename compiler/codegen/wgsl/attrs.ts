export { bool, ints, num } from '../../ir/ops/util.ts';

export function normAxisOf(a: number, rank: number): number {
  return a < 0 ? a + rank : a;
}
