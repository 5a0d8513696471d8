model M {
  input x: f32[4]
  output y = x
}
plan p {
  model: M
  memory: { gpu: 20 GB/s }
}
// expect: FLX4001 at 7:18: `memory.gpu` must be a size in bytes (e.g. `24 GiB`), got a bandwidth `20 GB/s`
