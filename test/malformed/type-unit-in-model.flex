model M {
  input x: f32[4]
  output y = x * 2 GiB
}
// expect: FLX4004 at 3:20: units such as `GiB` belong in hardware and plan declarations
