hardware H {
  host { memory: 64 Gib }
}
// expect: FLX4002 at 2:21: unknown unit `Gib`
