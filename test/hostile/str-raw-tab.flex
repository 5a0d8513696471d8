import { Linear } from "std/nn	x"
// expect: FLX1007 at 1:31: a string cannot hold the control character U+0009
// expect-count: 1
