import { Linear } from "std/nn"
// expect: FLX1007 at 1:31: a string cannot hold the control character U+007F
// expect-count: 1
