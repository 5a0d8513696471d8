import type { LeafOp, OpName } from './op-names.ts';
import { LEAF_OPS, type Attrs, type Loc, type Module, type Value } from './graph.ts';
import { getOp } from './ops/registry.ts';
import { ShapeError, type DType, type TensorType } from './types.ts';

export interface ValueMeta {
  name?: string | undefined;
  loc?: Loc | undefined;
}

/** Appends ops to a module, running each op's shape rule. */
export class Builder {
  readonly values: Value[] = [];
  private nextId = 0;
  /** Metadata stamped on values built without their own (used by autodiff). */
  defaults: ValueMeta = {};

  constructor(base?: Module) {
    if (base) {
      for (const v of base.values) this.values.push(v); // no spread: modules can exceed the engine's argument limit
      this.nextId = base.values.reduce((a, v) => Math.max(a, v.id + 1), 0);
    }
  }

  private make(op: OpName | LeafOp, inputs: Value[], attrs: Attrs, type: TensorType, meta: ValueMeta): Value {
    const v: Value = { id: this.nextId++, op, inputs, attrs, type };
    const name = meta.name ?? this.defaults.name;
    const loc = meta.loc ?? this.defaults.loc;
    if (name !== undefined) v.name = name;
    if (loc !== undefined) v.loc = loc;
    this.values.push(v);
    return v;
  }

  leaf(
    op: 'input' | 'param' | 'state',
    name: string,
    type: TensorType,
    attrs: Attrs = {},
    meta: ValueMeta = {},
  ): Value {
    return this.make(op, [], { name, ...attrs }, type, { name, ...meta });
  }

  op(op: OpName, inputs: Value[], attrs: Attrs = {}, meta: ValueMeta = {}): Value {
    const def = getOp(op);
    if (def.arity !== 'variadic' && def.arity !== inputs.length)
      throw new ShapeError(`${op} takes ${def.arity} operands, got ${inputs.length}`);
    const type = def.infer(
      inputs.map((i) => i.type),
      attrs,
    );
    return this.make(op, inputs, attrs, type, meta);
  }

  /** The same op as `v` (never a leaf) on other operands. */
  again(v: Value, inputs: Value[], meta: ValueMeta = {}): Value {
    if (LEAF_OPS.has(v.op)) throw new Error(`internal: cannot recompute the leaf ${v.op}`);
    return this.op(v.op as OpName, inputs, v.attrs, meta);
  }

  /** A scalar constant. */
  scalar(value: number, dtype: DType = 'f32'): Value {
    return this.op('const', [], { value, dtype });
  }
}
