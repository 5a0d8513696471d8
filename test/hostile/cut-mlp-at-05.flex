// A two-layer MLP classifier.
import { Linear } from "std/nn"

// expect: clean
