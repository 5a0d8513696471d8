import { Linear } from "std/nn"

hardware H {
  gpu { memory: 1e300 TiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
}
// expect: FLX4005 at 4:17: `memory` is too large to be a number (1e300 TiB)
