// A two-layer MLP classifier.
import { 
// expect: FLX1004 at 2:9: unexpected end of file; expected a name (in import decl)
