import { Linearr } from "std/nn"
// expect: FLX2004 at 1:10: `Linearr` is not declared in "std/nn"
