layer A(x: f32[n]) -> f32[n] {
  input z: f32[n]
  return x
}
// expect: FLX3020 at 2:3: `input` belongs in a model; a layer takes its inputs as arguments
