gpu g { memory: 24 }
// expect: FLX4001 at 1:17: `memory` must be a size in bytes (e.g. `24 GiB`), got a plain number `24`
