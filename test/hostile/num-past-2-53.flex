model M() {
  input x: f32[4, 3]
  output y = x * 9007199254740993
}

plan p {
  model: M
  task: infer
}
// expect: FLX1009 at 3:18: 9007199254740993 cannot be held exactly; it would become 9007199254740992 (whole numbers are exact up to 2⁵³)
