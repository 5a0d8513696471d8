import { CausalSelfAttention } from "std/nn"
model M {
  input x: f32[2, 8, 12]
  output loss = sum(CausalSelfAttention(x, heads: 3))
}
plan p {
  model: M
  task: infer
  parallel: { tensor: 2 }
}
// expect: FLX5017 at 9:15: `tensor: 2` splits nothing: its attention's heads (3) are not multiples of 2
