hardware H {
  network { topology: hypercube, bandwidth: 100 GB/s }
}
// expect: FLX4005 at 2:23: `topology` is one of `ring`, `switched`, `fat_tree`, `circuit_switched`, `nvlink`, `torus`, `infiniband`, `ethernet`, `optical`
