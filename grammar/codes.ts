/**
 * Every diagnostic code flexc raises: a one-line meaning, a longer explanation and, where it helps,
 * an example that raises it. `diag` takes only these codes (a new one must be written here first),
 * `flexc explain CODE` prints an entry, and test/cli/explain.test.ts checks that no code is raised
 * anywhere in the sources without one.
 */
export interface CodeDoc {
  summary: string;
  explanation: string;
  example?: string;
}

export const CODES = {
  // 1xxx: reading the text
  FLX1001: {
    summary: 'unexpected character',
    explanation:
      'The lexer met a character that starts no token of the ' +
      "language (flex has no `'` strings, no `;`, no `#` comments).",
    example: 'model M { input x: f32[4]; output y = x }',
  },
  FLX1002: {
    summary: 'expected a different token',
    explanation:
      'The parser needed one token (a brace, a colon, `=`…) and found another. The caret is where it was needed.',
    example: 'model M { input x f32[4] }',
  },
  FLX1003: {
    summary: 'nothing the grammar allows starts here',
    explanation:
      'None of the alternatives the grammar has at this point matches: ' +
      'a keyword used as a name, a stray statement, a misspelt keyword.',
    example: 'model M { input layer: f32[4] }',
  },
  FLX1004: {
    summary: 'a list needs at least one item',
    explanation: 'A construct that repeats (a block of items, a list) was empty or ended early.',
  },
  FLX1005: {
    summary: 'unexpected text after a complete declaration',
    explanation: 'The parser finished a construct and found text it cannot attach to anything.',
  },
  FLX1006: {
    summary: 'not a declaration',
    explanation:
      'A file is a list of declarations: `import`, `layer`, `model`, `graph`, ' +
      '`hardware`, `plan` and hardware parts. A misspelt keyword gets a did-you-mean.',
    example: 'modle M { }',
  },
  FLX1007: {
    summary: 'invalid string literal',
    explanation:
      'A string holds a control character (a raw tab, NUL…) or an escape flex does not know. Escapes are ' +
      '`\\"`, `\\\\`, `\\/`, `\\b`, `\\f`, `\\n`, `\\r`, `\\t` and `\\u` with four hex digits.',
    example: 'import { Linear } from "std\\nn"',
  },
  FLX1008: {
    summary: 'nested too deeply',
    explanation:
      'Brackets nest more than 64 deep, or one expression more than 256 (a chain of 300 `+` is 300 deep). ' +
      'flexc bounds nesting so that no input can overflow its stack; name inner parts with `let`.',
  },
  FLX1009: {
    summary: 'a number that cannot be held',
    explanation:
      'A literal larger than a double holds (`1e400`), or a whole number past 2⁵³ that would silently ' +
      'become another (9007199254740993 reads as …992).',
  },
  FLX1010: {
    summary: 'the editor stopped analysing the file',
    explanation:
      'The language server analyses documents off its main thread and stops an analysis that runs past its ' +
      'time limit (60 s, or `flexc lsp --time-limit`), so that no file can stall the editor. ' +
      '`flexc check` checks the file without that limit.',
  },
  // 2xxx: names and imports
  FLX2000: {
    summary: 'cannot read the file',
    explanation:
      'The file given on the command line, or imported, could not ' +
      'be read: it does not exist, is a folder, or is not readable.',
  },
  FLX2001: {
    summary: 'cannot find an imported module',
    explanation:
      'An import names a file that is not there. Relative imports (`./x`) ' +
      'are relative to the importing file; `std/…` is the standard library.',
    example: 'import { Linear } from "./layers"   // no layers.flex beside this file',
  },
  FLX2002: {
    summary: 'an import leaves the project',
    explanation:
      'Imports may not reach outside the project root (the nearest folder with ' +
      'flex.json, package.json or .git) or, from the standard library, outside it.',
  },
  FLX2003: {
    summary: 'an import is neither relative nor standard',
    explanation: 'Import paths start with `./` or `../`, or are standard-library modules such as `std/nn`.',
    example: 'import { Linear } from "nn"',
  },
  FLX2004: {
    summary: 'a name is not declared in the imported module',
    explanation: 'The imported file exists but declares no such name; the hint lists what it declares.',
    example: 'import { Liner } from "std/nn"',
  },
  FLX2005: { summary: 'a name is declared twice', explanation: 'Two declarations of a file have the same name.' },
  FLX2006: {
    summary: 'an import clashes with a declaration',
    explanation: 'A name is both imported and declared in the file.',
  },
  FLX2010: {
    summary: 'unknown name',
    explanation: 'A name is used that no `let`, parameter, argument, declaration or import defines here.',
    example: 'model M { input x: f32[4] output y = relu(z) }',
  },
  FLX2011: {
    summary: 'defined twice',
    explanation:
      'A `let`, output, argument or field is defined again in the same ' +
      'scope. To give a name a new value write `x = …` without `let`.',
  },
  FLX2012: {
    summary: 'assignment to an undefined name',
    explanation: '`x = …` rebinds a name that `let` defined earlier; this one was never defined.',
    example: 'model M { input x: f32[4] y = x output o = y }',
  },
  // 3xxx: types, shapes and calls
  FLX3001: {
    summary: 'shape mismatch',
    explanation:
      "An op's shape rule rejects its operands (inner dimensions of a matmul, " +
      "broadcasting, axes). The message gives each operand's type and where it came from.",
    example: 'model M { input x: f32[8, 16] param w: f32[12, 4] = normal(0.02) output y = x @ w }',
  },
  FLX3002: {
    summary: 'a tensor does not have the declared shape',
    explanation:
      "An argument, a layer's result or a size in a type disagrees " +
      'with its declaration, or sizes that must be equal are not.',
  },
  FLX3003: {
    summary: 'a tensor does not have the declared dtype',
    explanation: "A tensor's element type (f32, i32, …) differs from the one its declaration states.",
  },
  FLX3004: {
    summary: 'wrong kind of value',
    explanation:
      'A value of one kind is used where another is needed: a number where a ' +
      'tensor is needed, a list that is not a list of sizes, a float index.',
    example: 'model M { input x: f32[4] output y = softmax(x, axis: 0.5) }',
  },
  FLX3010: {
    summary: 'no such argument',
    explanation: 'A named argument is not a parameter of the layer or function called; the hint suggests the closest.',
  },
  FLX3011: {
    summary: 'a required argument is missing',
    explanation: 'A layer or function is called without an argument that has no default.',
  },
  FLX3012: {
    summary: 'too many arguments',
    explanation: 'A call passes more positional arguments than the callee takes.',
  },
  FLX3013: {
    summary: 'an argument is given twice',
    explanation: 'The same parameter is given positionally and by name, or by name twice.',
  },
  FLX3014: {
    summary: 'a size is not a whole number',
    explanation:
      'A size computed by division left a remainder: d / heads with d = 48 and heads = 5. The ' +
      'caret is at the division; a diagnostic inside a layer also shows the calls that led there.',
    example: 'plan p { model: Gpt(d: 48, heads: 5) }',
  },
  FLX3015: {
    summary: 'a tensor too large for any memory',
    explanation:
      'A tensor type holds more than 2⁴⁸ elements (1 PiB of f32). Sizes that large are a typo or a unit ' +
      'mistake; flexc refuses them so that every count it computes stays an exact integer.',
  },
  FLX3020: {
    summary: 'input or output outside a model',
    explanation: '`input` and `output` belong in models; a layer takes arguments and ends with `return`.',
  },
  FLX3030: {
    summary: 'not callable',
    explanation:
      'Only layers and built-in functions can be called in a model or layer body; models, graphs and hardware cannot.',
  },
  FLX3040: { summary: 'a layer has no return', explanation: 'Every layer ends with `return <tensor>`.' },
  FLX3041: {
    summary: 'a layer returns something other than it declares',
    explanation: "The value after `return` does not match the layer's declared result type.",
  },
  FLX3042: {
    summary: 'a layer calls itself',
    explanation:
      'Layers are expanded where they are called, with static shapes, so a layer that calls itself, directly ' +
      'or through others (also across files), would never finish. Calls may nest 64 deep.',
    example: 'layer A(x: f32[n]) -> f32[n] { return A(x) }',
  },
  FLX3050: {
    summary: 'an op does not support this axis or rank',
    explanation:
      'Some ops work on the last axis only (softmax, layernorm) ' +
      'or need a minimum rank (transpose); move the axis first.',
  },
  FLX3051: {
    summary: 'no such member',
    explanation: 'A graph has `features`, `labels`, `nodes` and `split`; a split has `train`, `val` and `test`.',
  },
  FLX3060: {
    summary: 'no output, or no such loss output',
    explanation:
      "A model needs at least one `output`; a training plan's loss (`task: " +
      'train { loss: name }`, `loss` by default) must be one of them.',
  },
  FLX3061: {
    summary: 'the loss is not a float scalar',
    explanation: 'Training needs a scalar float loss; reduce a per-example loss with `mean` or `sum`.',
  },
  FLX3062: {
    summary: 'nothing to train',
    explanation: "A training plan's model has no parameters (or all are frozen).",
  },
  // 4xxx: hardware, units and memory budgets
  FLX4001: {
    summary: 'a quantity of the wrong dimension',
    explanation:
      'A field wants a size, a bandwidth, a rate or a time and got ' +
      'another (a bandwidth is a size per second: `900 GB/s`).',
    example: 'hardware H { host { memory: 64 GB/s } }',
  },
  FLX4002: {
    summary: 'unknown unit',
    explanation: 'Units are B, KB, MB, GB, TB, KiB, MiB, GiB, TiB, their per-second forms, TFLOPS and s, ms, us, ns.',
  },
  FLX4003: {
    summary: 'unknown field or part',
    explanation:
      'A hardware part, or a field of a part, graph or component, does not exist; the hint lists those that do.',
  },
  FLX4004: {
    summary: 'a unit in a model',
    explanation: 'Units belong to hardware and plan declarations; sizes in models are plain numbers.',
  },
  FLX4005: {
    summary: 'an invalid setting',
    explanation:
      'A field has a value outside what it accepts (one of a set of words, ' +
      'a non-negative number, a file loaded with the wrong loader).',
  },
  FLX4010: {
    summary: 'the GPU budget cannot be met',
    explanation:
      'No schedule keeps the training step within `memory: { gpu: … }` with this checkpoint policy. The message ' +
      'gives the bytes needed and the smallest budget that works (or says that `checkpoint: auto` fits).',
    example: 'plan p { model: M memory: { gpu: 1 MiB } checkpoint: none }',
  },
  FLX4011: {
    summary: 'a placement needs more of a tier than its budget',
    explanation:
      '`placement: host` or `placement: ssd` keeps every activation the backward pass reads in that tier (and `host` ' +
      'every input); they need more than `memory.host` (or `memory.ssd`). The message gives the bytes needed; raise ' +
      'the budget, or use ' +
      '`placement: auto`, which moves only what the GPU budget requires.',
    example: 'plan p { model: M memory: { gpu: 1 MiB, host: 1 KiB } placement: host }',
  },
  // 5xxx: plans
  FLX5001: {
    summary: 'unknown plan field',
    explanation:
      'A plan takes model, bind, task, memory, checkpoint, precision, ' +
      'fuse, target, placement, parallel, on, data, seed and steps.',
  },
  FLX5002: {
    summary: 'a plan has no model',
    explanation: 'Every plan names the model it builds: `model: Gpt` or `model: Gpt(d: 256)`.',
  },
  FLX5003: {
    summary: 'a size is not bound',
    explanation: 'Lowering a plan needs every symbolic size (B, T, …) of the model bound: `bind: { B: 8, T: 128 }`.',
  },
  FLX5004: {
    summary: 'a bound size is not used',
    explanation: '`bind` names a size that no input or parameter of the model uses (often a typo).',
  },
  FLX5005: { summary: 'unknown model', explanation: "The plan's `model:` names no model in scope." },
  FLX5007: {
    summary: 'an invalid plan setting',
    explanation:
      "A plan field's value has the wrong form, e.g. `checkpoint: every(0)` or an optimizer that does not exist.",
  },
  FLX5008: {
    summary: 'no such plan, or a plan must be chosen',
    explanation:
      'The command named a plan the file does not declare, or the ' +
      'file has several plans and none was chosen with --plan.',
  },
  FLX5009: {
    summary: 'the model is too large to unroll',
    explanation: 'The unrolled model has more operations than flexc elaborates (check `repeat` counts).',
  },
  FLX5010: {
    summary: 'text data needs tokens and targets',
    explanation:
      '`data: text(…)` feeds the inputs `tokens` and `targets`, i32[B, T] each; the model must declare them.',
  },
  FLX5011: {
    summary: 'a LoRA target names no linear weight',
    explanation:
      "`finetune { lora { targets } }` names parameters read as `x @ W`; the hint lists the model's matrices.",
  },
  FLX5012: {
    summary: 'a serving plan cannot feed the model',
    explanation:
      'Serving plans feed `tokens: i32[B, T]` and set T themselves (prefill and decode), so T must not be bound.',
  },
  FLX5013: {
    summary: 'data parallelism does not fit the hardware',
    explanation: "`parallel { data: N }` needs N GPUs in the plan's hardware and a network between them.",
  },
  FLX5014: {
    summary: 'a memory budget or placement on a tier the hardware lacks',
    explanation:
      "`memory: { host: … }` or `{ ssd: … }`, or `placement: host`, names a tier that the plan's hardware (`on: …`) " +
      'does not declare: add the part (`host { memory: … }`, `ssd { capacity: … }`) or drop the budget.',
    example:
      'model M() { input x: f32[4]\n output y = relu(x) }\n' +
      'hardware H { gpu { memory: 24 GiB, bandwidth: 1 TB/s, fp32: 80 TFLOPS } }\n' +
      'plan p { model: M\n on: H\n task: infer\n memory: { ssd: 1 TB } }',
  },
  FLX5015: {
    summary: 'a memory budget larger than its tier',
    explanation:
      "A budget is a promise the plan keeps within the hardware: `memory.gpu` is at most each GPU's memory, " +
      "`memory.host` the host's, `memory.ssd` the SSD's capacity.",
  },
  FLX5016: {
    summary: 'more node blocks than the graph has nodes',
    explanation:
      '`blocks: P` cuts a step over a graph into P row blocks of its nodes (each block a range of node ids); a block ' +
      'needs at least one node, so P is at most the number of nodes.',
  },
  FLX5017: {
    summary: 'tensor parallelism that splits nothing',
    explanation:
      '`parallel: { tensor: t }` splits layers over t GPUs as Megatron does: a pair of linear layers (x @ W1, ' +
      "pointwise ops over its width, then @ W2: an MLP's hidden layer, a transformer's feed-forward block) W1 by " +
      'columns and W2 by rows, self-attention by heads. A layer whose width or heads t does not divide stays whole; ' +
      'a plan whose model has no layer t splits is an error rather than t copies of one program.',
    example:
      'model M() { input x: f32[2, 4]\n param w: f32[4, 3] = zeros()\n output y = sum(x @ w) }\n' +
      'plan p { model: M\n task: infer\n parallel: { tensor: 2 } }',
  },
  FLX5018: {
    summary: 'a pipeline with more stages than layers',
    explanation:
      '`parallel: { pipeline: P }` cuts the model between its layers (the iterations of its `repeat`) into P ' +
      'stages, P × v with `schedule: interleaved(v)`, each at least one layer, balanced by predicted time. A model ' +
      'with fewer layers than stages, or with no `repeat`, cannot fill them.',
    example:
      'model M() { input x: f32[2, 4]\n param w: f32[4, 4] = zeros()\n output y = sum(x @ w) }\n' +
      'plan p { model: M\n task: infer\n parallel: { pipeline: 2 } }',
  },
  FLX5019: {
    summary: '`parallel: auto` found no partition',
    explanation:
      "`parallel: auto` searches tensor × pipeline × data partitions of the hardware's GPUs (with sequence " +
      'splitting, ZeRO, micro-batch, checkpointing and schedule) for the fastest whose every GPU fits its memory or ' +
      '`memory.gpu`. A plan without hardware has no GPUs to partition; when none fits, the least any needs is named.',
    example:
      'model M() { input x: f32[2, 4]\n param w: f32[4, 4] = zeros()\n output loss = sum(x @ w) }\n' +
      'plan p { model: M\n task: train { optimizer: sgd(lr: 0.1) }\n parallel: auto }',
  },
  FLX5020: {
    summary: 'sequence parallelism that splits nothing',
    explanation:
      '`sequence: true` splits the tokens between tensor-parallel layers over the `tensor` ranks, each rank taking ' +
      'an equal share; when the sequence length does not divide by the ranks no value splits, and the plan would be ' +
      'tensor parallelism alone under another name.',
    example:
      'model M() { input x: f32[2, 5, 4]\n param w1: f32[4, 8] = zeros()\n param w2: f32[8, 4] = zeros()\n' +
      ' output y = sum(relu(x @ w1) @ w2) }\n' +
      'plan p { model: M\n task: infer\n parallel: { tensor: 2, sequence: true } }',
  },
  // 6xxx: data
  FLX6001: {
    summary: 'data file not found',
    explanation:
      "A graph or text file does not exist. Paths are relative to the .flex file's folder, " +
      "or to the graph's `dir`; the message says which folder it was resolved against.",
    example: 'graph G { nodes: 3 labels: i32[nodes] from "no-such-file.i32" }',
  },
  FLX6002: {
    summary: 'invalid data',
    explanation:
      'A data file has the wrong size, values out of range or a malformed header for what the declaration says.',
  },
  FLX6003: {
    summary: 'an index in the data is out of range',
    explanation: 'An index read from the data (a label, an edge, a token) selects outside the tensor it indexes.',
  },
  FLX6004: {
    summary: 'the vocabulary is too small for the text',
    explanation: 'The corpus has more distinct characters than the embedding of `tokens` has rows.',
  },
  FLX6005: {
    summary: 'the loss became NaN or infinite',
    explanation:
      'A training run stops at the first step whose loss is not a finite number. On the CPU backend the ' +
      'diagnostic points at the op that produced the first NaN or infinity from finite operands.',
  },
  FLX6006: {
    summary: 'a graph declared by its sizes has no data to run on',
    explanation:
      'A graph given by sizes alone (`edges: N`, `features: f32[nodes, F]` without a file) is for checking and ' +
      'planning shapes too large to ship (ogbn-papers100M); running or building a plan over it needs its files.',
  },
  // 7xxx: devices and builds
  FLX7001: {
    summary: 'the plan exceeds the GPU budget at run time',
    explanation: "The runtime refuses an arena larger than the plan's GPU budget or the device's largest buffer.",
  },
  FLX7002: {
    summary: 'no WebGPU device',
    explanation:
      'No adapter could be opened: install a Vulkan driver, or ' +
      'SwiftShader (Debian: apt-get install chromium-common libvulkan1).',
  },
  FLX7003: {
    summary: 'the plan does not fit the device limits',
    explanation:
      'A tensor is larger than the device binds at once, or the arena larger than its largest ' +
      "buffer; give a larger device's limits with --max-buffer-size and --max-binding-size.",
  },
  FLX7004: {
    summary: 'half precision cannot be built for kernels yet',
    explanation:
      'The kernels of every target compute in fp32; build with `precision: fp32` (plan and run take half ' +
      'precision as it is).',
  },
  FLX7005: {
    summary: 'decode steps cannot be built yet',
    explanation:
      "`flexc build` does not emit drivers for KV-cache decode steps; build the prompt's pass with `decode: 0`.",
  },
  FLX7006: {
    summary: 'a build would overwrite another',
    explanation:
      "The output folder already holds another file's build of a plan with the same " +
      'name (or files that are not a build); give this build its own folder with -o.',
  },
  FLX7007: {
    summary: 'out of host memory',
    explanation:
      'A run allocates its tensors (the CPU backend) or its data on the host; one was larger than the ' +
      'machine could give. Smaller sizes, or `flexc plan` to see what the plan needs.',
  },
  FLX7008: {
    summary: 'a step ran past its time limit on the device',
    explanation:
      'The device had not finished a step after the time limit (60 s unless `flexc run --time-limit` or the ' +
      "session's `timeLimitSeconds` says otherwise): a kernel that loops without end, as an edited kernel file " +
      'can, or a device too slow for the plan. The run stops; the session takes no more steps.',
  },
  FLX7009: {
    summary: "the target's compiler is missing",
    explanation:
      'Targets `c` and `cuda` compile the generated code into a shared library: `c` with the system C compiler ' +
      '(`cc`, or `$CC`; it needs OpenMP), `cuda` with `nvcc` from the CUDA toolkit. Install it, or build with ' +
      '`--no-compile` and compile host.c or host.cu where the compiler is.',
  },
  FLX7010: {
    summary: 'no CUDA device',
    explanation:
      "A plan built for target `cuda` runs on an NVIDIA GPU through the CUDA driver; this machine's driver " +
      'found none that could hold the arena. Run it where there is one, or train with `--backend native` ' +
      '(C on this CPU) or `--backend webgpu`.',
  },
  FLX7011: {
    summary: 'a partitioned plan asked of a one-device runtime',
    explanation:
      "A plan with `parallel: { tensor: t }` or `{ pipeline: p }` compiles to one rank's program, whose collectives " +
      "(Megatron's all-reduces, a pipeline's sends) need every rank of the group. `flexc run --backend cpu` runs " +
      'the ranks as devices simulated in one process, `--backend webgpu` as WebGPU devices simulated on one, ' +
      '`--backend native` as sessions of the compiled C library in one process, and `--backend cuda` one rank per ' +
      "process over NCCL (FLX7012); `flexc build` writes one device's program and joins no ranks yet.",
  },
  FLX7012: {
    summary: 'CUDA ranks cannot meet',
    explanation:
      'A partitioned plan on `--backend cuda` runs one process per GPU, each one rank, launched as torchrun or ' +
      "mpirun launch them: RANK and WORLD_SIZE (the partition's rank count), LOCAL_RANK (the GPU), and " +
      "MASTER_ADDR and MASTER_PORT (or NCCL_COMM_ID) where the ranks meet. The exchanges between them are NCCL's, " +
      "loaded when the plan runs: libnccl.so.2 from FLEXC_NCCL, the loader's path, or the nvidia-nccl-cu13 wheel.",
  },
} as const satisfies Record<string, CodeDoc>;

export type Code = keyof typeof CODES;

export const isCode = (s: string): s is Code => Object.hasOwn(CODES, s);
