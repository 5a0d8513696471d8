// A two-layer MLP classifier.
// expect: clean
