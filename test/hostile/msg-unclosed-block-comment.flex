/* a comment
model M() {
  input x: f32[3]
  output y = x
}
// expect: FLX1001 at 1:1: this `/*` comment is never closed
