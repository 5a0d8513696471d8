   

	
// expect: clean
