import { rtx4090 } from "std/hardware"
hardware H {
  gpu: rtx4009
}
// expect: FLX2010 at 3:8: unknown gpu preset `rtx4009`
