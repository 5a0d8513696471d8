import { Linear } from "std\\nn"
// expect: FLX2003 at 1:24: import "std\nn" is neither relative (./, ../) nor in the standard library (std/)
