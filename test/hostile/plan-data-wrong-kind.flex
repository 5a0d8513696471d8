model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

plan p {
  model: M
  task: infer
  data: 5
}
// expect: FLX5007 at 9:9: `data` is `text("file.txt", split: 0.9)`: a character-level corpus for the inputs `tokens` and `targets`
