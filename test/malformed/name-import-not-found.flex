import { Foo } from "std/nope"
// expect: FLX2001 at 1:21: cannot find module "std/nope"
