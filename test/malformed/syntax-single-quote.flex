import { Linear } from 'std/nn'
// expect: FLX1001 at 1:24: unexpected character `'`
