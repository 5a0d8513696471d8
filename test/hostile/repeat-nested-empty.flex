model M() {
  input x: f32[4]
  repeat 1000000 as i {
    repeat 1000000 as j {
    }
  }
  output z = x
}
// expect: FLX5009 at 3:10: `repeat` unrolls more than 200,000 times in all
