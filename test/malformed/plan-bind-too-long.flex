import { Gpt } from "./_gpt-model"
plan p {
  model: Gpt
  bind: { B: 1, T: 32 }
}
// expect: FLX3001 at 5:14: shape mismatch in slice: slice end 32 is past dimension 0 of size 16; operands are f32[16,8] `wpe` (from line 4:9)
