/**
 * The name of every op of the IR, so that a misspelt op is a type error (`b.op('matmull', …)`).
 * Each has its definition in ops/ (test/ir/registry.test.ts checks the two lists agree).
 */
export const OP_NAMES = [
  'adam_m',
  'adam_step',
  'adam_v',
  'add',
  'broadcast_to',
  'cache_view',
  'cache_write',
  'cast',
  'causal_mask',
  'concat',
  'const',
  'cross_entropy',
  'cross_entropy_grad',
  'div',
  'dropout',
  'edge_softmax',
  'edge_softmax_grad',
  'elu',
  'elu_grad',
  'exp',
  'full',
  'fused',
  'gather',
  'gelu',
  'gelu_grad',
  'layernorm',
  'layernorm_grad',
  'layernorm_rstd',
  'log',
  'log_softmax',
  'log_softmax_grad',
  'matmul',
  'max',
  'max_grad',
  'mean',
  'mul',
  'neg',
  'offload',
  'pad',
  'positions',
  'reload',
  'relu',
  'relu_grad',
  'reshape',
  'rope',
  'scatter_add',
  'sddmm',
  'sgd',
  'sigmoid',
  'sigmoid_grad',
  'slice',
  'softmax',
  'softmax_grad',
  'spmm',
  'spmm_acc',
  'spmm_csr',
  'spmm_edge',
  'sqrt',
  'sub',
  'sum',
  'sum_to',
  'tanh',
  'tanh_grad',
  'transpose',
] as const;

export type OpName = (typeof OP_NAMES)[number];

/** Leaves: inputs, parameters and optimizer state, named by attrs.name. */
export type LeafOp = 'input' | 'param' | 'state';

const KNOWN = new Set<string>([...OP_NAMES, 'input', 'param', 'state']);
/** Whether a name (e.g. read from textual IR) is an op or a leaf. */
export const isOpOrLeaf = (s: string): s is OpName | LeafOp => KNOWN.has(s);
