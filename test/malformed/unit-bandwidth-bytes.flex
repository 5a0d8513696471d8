hardware H {
  host { memory: 64 GiB, bandwidth: 50 GB }
}
// expect: FLX4001 at 2:37: `bandwidth` must be a bandwidth (e.g. `25 GB/s`), got a size in bytes `50 GB`
