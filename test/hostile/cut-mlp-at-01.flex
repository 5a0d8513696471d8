// A two-layer 
// expect: clean
