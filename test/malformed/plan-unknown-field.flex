model M {
  input x: f32[4]
  output y = x
}
plan p {
  model: M
  memroy: { gpu: 8 GiB }
}
// expect: FLX5001 at 7:3: a plan has no field `memroy`
