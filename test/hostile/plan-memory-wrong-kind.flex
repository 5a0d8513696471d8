model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  memory: "lots"
}
// expect: FLX5007 at 9:11: `memory` is a block of budgets: `memory: { gpu: 20 GiB }`
