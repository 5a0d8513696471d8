/* a comment
   on two lines */
model M() {
  input x: f32[3]
  output y = x
}

plan p {
  model: M
  task: infer
}
// expect: clean
