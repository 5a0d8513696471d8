hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
  host { memory: 64 GiB }
  network { bandwidth: 0 GB/s }
}
// expect: FLX4005 at 4:24: `bandwidth` must be more than 0
