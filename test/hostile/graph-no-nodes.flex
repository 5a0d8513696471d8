graph G {
  labels: i32[nodes] from "labels.i32"
}
// expect: FLX4005 at 1:1: graph `G` needs `nodes: N`, a positive whole number
