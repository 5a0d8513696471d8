hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, tf32: 3 GiB }
}
// expect: FLX4001 at 2:68: `tf32` must be a compute rate (e.g. `165 TFLOPS`), got a size in bytes `3 GiB`
