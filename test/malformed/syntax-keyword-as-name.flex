model M {
  input model: f32[4]
  output y = model
}
// expect: FLX1002 at 2:9: unexpected `model`; expected a name (in input stmt)
