hardware H {
  link gpu <-> disk { bandwidth: 25 GB/s }
}
// expect: FLX4003 at 2:16: a link joins `gpu`, `host` or `ssd`, not `disk`
