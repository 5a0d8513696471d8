model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  bind: 5
}
// expect: FLX5007 at 9:9: `bind` is a block of sizes: `bind: { B: 8, T: 1024 }`
