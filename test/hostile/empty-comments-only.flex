// nothing
// here
// expect: clean
