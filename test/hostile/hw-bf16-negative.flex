hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, bf16: -1 TFLOPS }
}
// expect: FLX4005 at 2:68: `bf16` cannot be negative
