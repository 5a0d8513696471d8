// A two-layer MLP classifier.
import { Linear } 
// expect: FLX1002 at 2:18: unexpected end of file; expected `from` (in import decl)
