import { Foo } from "../../../../etc/passwd"
// expect: FLX2002 at 1:21: import "../../../../etc/passwd" resolves outside the project root (.)
