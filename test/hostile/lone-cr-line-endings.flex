model M() {  input x: f32[4]  output y = relu(z)}
// expect: FLX2010 at 3:19: unknown name `z`
