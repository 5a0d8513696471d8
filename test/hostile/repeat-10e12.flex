model M() {
  input x: f32[4]
  let y = x
  repeat 1000000000000 as i {
    y = relu(y)
  }
  output z = y
}
// expect: FLX5009 at 4:10: `repeat` unrolls more than 200,000 times in all
