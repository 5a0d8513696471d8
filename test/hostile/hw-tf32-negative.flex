hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, tf32: -1 TFLOPS }
}
// expect: FLX4005 at 2:68: `tf32` cannot be negative
