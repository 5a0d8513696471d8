hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, launch: -1 us }
}
// expect: FLX4005 at 2:70: `launch` cannot be negative
