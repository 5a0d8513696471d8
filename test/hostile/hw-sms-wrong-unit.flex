hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, sms: 3 GiB }
}
// expect: FLX4001 at 2:67: `sms` must be a plain number, got a size in bytes `3 GiB`
