hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
  host { memory: -1 GiB }
}
// expect: FLX4005 at 3:18: `memory` cannot be negative
