model M {
  input x: f32[4]
  let y = relu(x
  let z = (y + 
  output z = z
}
// expect: FLX1002 at 4:3: unexpected `let`; expected `)` (in call suffix)
