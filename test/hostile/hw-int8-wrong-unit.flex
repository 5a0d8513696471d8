hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, int8: 3 GiB }
}
// expect: FLX4001 at 2:68: `int8` must be a compute rate (e.g. `165 TFLOPS`), got a size in bytes `3 GiB`
