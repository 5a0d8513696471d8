import type { Span } from '../../grammar/diagnostics.ts';
import type { Attrs, Value } from '../ir/graph.ts';
import type { Dim } from '../ir/types.ts';
import type { DeclRef } from './program.ts';
import type { GraphSpec } from '../../runtime/data/graph-spec.ts';

/** What an expression evaluates to while a model is elaborated. */
export type EVal =
  | { kind: 'tensor'; v: Value }
  /** `inexact`: a division of whole numbers that left a remainder, for when a size is wanted. */
  | { kind: 'num'; n: number; unit?: string | undefined; inexact?: { span: Span; message: string } }
  | { kind: 'sym'; dim: string }
  | { kind: 'bool'; b: boolean }
  | { kind: 'str'; s: string }
  | { kind: 'list'; items: EVal[] }
  | { kind: 'graph'; name: string; spec: GraphSpec }
  | { kind: 'split'; graph: EVal & { kind: 'graph' } }
  | { kind: 'init'; attrs: Attrs }
  | { kind: 'decl'; ref: DeclRef }
  /** The result of an expression that already failed: silently absorbs further errors. */
  | { kind: 'poison' };

export const POISON: EVal = { kind: 'poison' };

export function describe(v: EVal): string {
  switch (v.kind) {
    case 'tensor':
      return `a tensor ${v.v.type.dtype}[${v.v.type.shape.join(', ')}]`;
    case 'num':
      return `the number ${v.n}${v.unit ? ` ${v.unit}` : ''}`;
    case 'sym':
      return `the size \`${v.dim}\``;
    case 'bool':
      return `the boolean ${v.b}`;
    case 'str':
      return `the string "${v.s}"`;
    case 'list':
      return 'a list';
    case 'graph':
      return `the graph \`${v.name}\``;
    case 'split':
      return 'the graph split';
    case 'init':
      return 'an initializer';
    case 'decl':
      return `the ${v.ref.decl.kind} \`${v.ref.decl.name.name}\``;
    case 'poison':
      return 'an erroneous value';
  }
}

/** An integer size, fixed or symbolic. */
export function asDim(v: EVal): Dim | undefined {
  if (v.kind === 'num' && Number.isInteger(v.n) && v.unit === undefined) return v.n;
  if (v.kind === 'sym') return v.dim;
  return undefined;
}

export function fromDim(d: Dim): EVal {
  return typeof d === 'number' ? { kind: 'num', n: d } : { kind: 'sym', dim: d };
}
