/** Where a data graph's arrays come from: plain data, shared by the compiler (sizes) and the runtime (loading). */
export interface GraphSpec {
  name: string;
  nodes: number;
  features?: { indptr: string; indices: string; dim: number; normalize: 'row' | 'none' } | { dense: string; dim: number; normalize: 'row' | 'none' };
  edges?: { file: string };
  labels?: { file: string };
  split?: { file: string };
}

/** Feed keys of the tensors a graph provides. */
export const GRAPH_FEEDS = ['features', 'labels', 'adj.indptr', 'adj.indices', 'adj.values', 'adjT.indptr', 'adjT.indices', 'adjT.values', 'split.train', 'split.val', 'split.test'] as const;
export type GraphFeed = (typeof GRAPH_FEEDS)[number];
