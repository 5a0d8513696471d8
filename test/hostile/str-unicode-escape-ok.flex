import { Linear } from "\u0073td/nn"
model M() {
  input x: f32[2, 3]
  output y = Linear(x, out: 4)
}
plan p {
  model: M
  task: infer
}
// expect: clean
