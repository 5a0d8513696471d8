model Mlp {
  input x: f32[4]
  output y = x
}
plan p {
  model: Mpl
}
// expect: FLX5005 at 6:10: unknown model `Mpl`
