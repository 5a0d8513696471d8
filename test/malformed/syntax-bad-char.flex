model M {
  input x: f32[4]
  let y = x $ 2
  output y = y
}
// expect: FLX1001 at 3:13: unexpected character `$`
