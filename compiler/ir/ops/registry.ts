import { LEAF_OPS, type Value } from '../graph.ts';
import type { OpDef } from '../op.ts';
import { attentionOps } from './attention.ts';
import { broadcastOps } from './broadcast.ts';
import { cacheOps } from './cache.ts';
import { castOps } from './cast.ts';
import { collectiveOps, ppSend } from './collective.ts';
import { vocabOps } from './vocab.ts';
import { constantOps } from './constant.ts';
import { dropoutOps } from './dropout.ts';
import { edgeOps } from './edge.ts';
import { elementwiseOps } from './elementwise.ts';
import { fusedOps } from './fused.ts';
import { gatherOps } from './gather.ts';
import { layernormOps } from './layernorm.ts';
import { lossOps } from './loss.ts';
import { maskOps } from './mask.ts';
import { matmulOps } from './matmul.ts';
import { moeOps } from './moe.ts';
import { moeLayerOps, useOps } from './moe-layer.ts';
import { partOps } from './part.ts';
import { optimizerOps } from './optimizer.ts';
import { reduceOps } from './reduce.ts';
import { ropeOps } from './rope.ts';
import { shapeOps } from './shape.ts';
import { softmaxOps } from './softmax.ts';
import { sparseOps } from './sparse.ts';
import { tierOps } from './tier.ts';

/** Every op of the IR, each defined once in its family's file. */
export const OPS: ReadonlyMap<string, OpDef> = new Map(
  [
    constantOps,
    castOps,
    elementwiseOps,
    broadcastOps,
    matmulOps,
    reduceOps,
    softmaxOps,
    layernormOps,
    shapeOps,
    gatherOps,
    lossOps,
    dropoutOps,
    sparseOps,
    edgeOps,
    maskOps,
    ropeOps,
    cacheOps,
    optimizerOps,
    fusedOps,
    tierOps,
    moeOps,
    moeLayerOps,
    partOps,
    attentionOps,
    collectiveOps,
    [ppSend],
    vocabOps,
  ]
    .flat()
    .map((d) => [d.name, d]),
);

export function getOp(name: string): OpDef {
  const d = OPS.get(name);
  if (!d) throw new Error(`internal: unknown op \`${name}\``);
  return d;
}
useOps(getOp);

/** FLOPs of the ops among `values` (leaves have none). */
export const flopsOf = (values: readonly Value[]): number =>
  values.reduce((a, v) => a + (LEAF_OPS.has(v.op) ? 0 : getOp(v.op).cost(v).flops), 0);
