layer A(x: f32[n]) -> f32[n] {
  return B(x)
}

layer B(x: f32[n]) -> f32[n] {
  return relu(A(x))
}
// expect: FLX3042 at 2:10: layer `B` calls itself (B → A → B)
