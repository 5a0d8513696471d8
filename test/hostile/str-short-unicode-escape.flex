import { Linear } from "std/\u12"
// expect: FLX1007 at 1:29: `\u` needs four hex digits
// expect-count: 1
