model M() {
  input x: f32[4, 8]
  input z: f32[3, 5]
  input i: i32[4]
  return x
}

plan p {
  model: M
  task: infer
}
// expect: FLX3020 at 5:3: `return` belongs in a layer; a model declares `output`s
