import { Linear } from "std\qnn"
// expect: FLX1007 at 1:28: unknown escape `\q`
// expect-count: 1
