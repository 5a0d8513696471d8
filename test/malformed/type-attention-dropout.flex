model M {
  input q: f32[1, 2, 4, 8]
  output y = attention(q, q, q, dropout: 1)
}
// expect: FLX3050 at 3:14: dropout probability must be in [0, 1), got 1
