hardware H {
  gpu { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS, sms: -1 }
}
// expect: FLX4005 at 2:67: `sms` cannot be negative
