import { A } from "./no-such-file"
// expect: FLX2001 at 1:19: cannot find module "./no-such-file"
