import type { EVal } from '../sema/values.ts';

/** A value as hover shows it: `f32[B, T, 768]`, `64`, `24 GiB`, `size B`. */
export function formatValue(v: EVal): string {
  switch (v.kind) {
    case 'tensor':
      return `${v.v.type.dtype}[${v.v.type.shape.join(', ')}]`;
    case 'num':
      return `${v.n}${v.unit ? ` ${v.unit}` : ''}`;
    case 'sym':
      return `size ${v.dim}`;
    case 'bool':
      return String(v.b);
    case 'str':
      return JSON.stringify(v.s);
    case 'list':
      return `[${v.items.map(formatValue).join(', ')}]`;
    case 'graph':
      return `graph ${v.name}`;
    default:
      return v.kind;
  }
}
