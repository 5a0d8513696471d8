gpu g { memory: 24 GiB, bandwith: 1000 GB/s }
// expect: FLX4003 at 1:25: a gpu has no field `bandwith`
