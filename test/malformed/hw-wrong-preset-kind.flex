import { pcie4 } from "std/hardware"
hardware H {
  gpu: pcie4
}
// expect: FLX3004 at 3:8: `pcie4` is a link, not a gpu
