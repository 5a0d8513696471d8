hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
  host { memory: 64 GiB }
  link gpu <-> host { bandwidth: 5 TFLOPS }
}
// expect: FLX4001 at 4:34: `bandwidth` must be a bandwidth (e.g. `25 GB/s`), got a compute rate `5 TFLOPS`
