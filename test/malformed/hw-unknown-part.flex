hardware H {
  tpu { memory: 16 GiB }
}
// expect: FLX4003 at 2:3: hardware has no part `tpu`
