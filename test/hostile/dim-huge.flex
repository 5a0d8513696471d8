model M() {
  input x: f32[100000000000, 100000000000]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
}
// expect: FLX3015 at 2:12: f32[100000000000, 100000000000] holds 1.00e+22 elements, more than any memory (flexc allows 2⁴⁸ = 2.81e+14 per tensor)
