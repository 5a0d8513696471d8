hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, launch: 3 GiB }
}
// expect: FLX4001 at 2:70: `launch` must be a time (e.g. `10 us`), got a size in bytes `3 GiB`
