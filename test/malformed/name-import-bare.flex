import { Foo } from "nn"
// expect: FLX2003 at 1:21: import "nn" is neither relative (./, ../) nor in the standard library (std/)
