graph G {
  nodes: 3
  labels: i32[nodes] from "no-such-file.i32"
}
// expect: FLX6001 at 3:27: data file not found: test/malformed/no-such-file.i32 (resolved against test/malformed, the folder of this .flex file)
