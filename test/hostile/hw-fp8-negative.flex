hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, fp8: -1 TFLOPS }
}
// expect: FLX4005 at 2:67: `fp8` cannot be negative
