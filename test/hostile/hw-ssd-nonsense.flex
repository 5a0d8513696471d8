hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
  host { memory: 64 GiB }
  ssd { capacity: 0 B }
}
// expect: FLX4005 at 4:19: `capacity` must be more than 0
