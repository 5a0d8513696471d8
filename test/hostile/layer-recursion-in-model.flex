layer A(x: f32[n]) -> f32[n] {
  return x + A(x)
}

model M() {
  input x: f32[4]
  output y = A(x)
}

plan p {
  model: M
  task: infer
}
// expect: FLX3042 at 2:14: layer `A` calls itself (A → A)
