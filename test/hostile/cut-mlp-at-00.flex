// 
// expect: clean
