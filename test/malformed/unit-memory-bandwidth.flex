hardware H {
  host { memory: 20 GB/s }
}
// expect: FLX4001 at 2:18: `memory` must be a size in bytes (e.g. `24 GiB`), got a bandwidth `20 GB/s`
