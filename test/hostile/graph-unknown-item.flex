graph G {
  nodes: 3
  colour: red
}
// expect: FLX4003 at 3:3: a graph has no item `colour`
