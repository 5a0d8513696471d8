import { Linear } from "std/nn"
// expect: FLX1007 at 1:29: a string cannot hold the control character U+0001
// expect-count: 1
