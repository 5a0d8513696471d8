model M {
  input x: f32[4]
  let y relu(x)
  output y = y
}
// expect: FLX1002 at 3:9: unexpected `relu`; expected `=` (in let stmt)
