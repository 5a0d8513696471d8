layer L0(x: f32[n]) -> f32[n] {
  return L1(x)
}

layer L1(x: f32[n]) -> f32[n] {
  return L2(x)
}

layer L2(x: f32[n]) -> f32[n] {
  return L3(x)
}

layer L3(x: f32[n]) -> f32[n] {
  return L4(x)
}

layer L4(x: f32[n]) -> f32[n] {
  return L5(x)
}

layer L5(x: f32[n]) -> f32[n] {
  return L6(x)
}

layer L6(x: f32[n]) -> f32[n] {
  return L7(x)
}

layer L7(x: f32[n]) -> f32[n] {
  return L8(x)
}

layer L8(x: f32[n]) -> f32[n] {
  return L9(x)
}

layer L9(x: f32[n]) -> f32[n] {
  return L10(x)
}

layer L10(x: f32[n]) -> f32[n] {
  return L11(x)
}

layer L11(x: f32[n]) -> f32[n] {
  return L12(x)
}

layer L12(x: f32[n]) -> f32[n] {
  return L13(x)
}

layer L13(x: f32[n]) -> f32[n] {
  return L14(x)
}

layer L14(x: f32[n]) -> f32[n] {
  return L15(x)
}

layer L15(x: f32[n]) -> f32[n] {
  return L16(x)
}

layer L16(x: f32[n]) -> f32[n] {
  return L17(x)
}

layer L17(x: f32[n]) -> f32[n] {
  return L18(x)
}

layer L18(x: f32[n]) -> f32[n] {
  return L19(x)
}

layer L19(x: f32[n]) -> f32[n] {
  return L20(x)
}

layer L20(x: f32[n]) -> f32[n] {
  return L21(x)
}

layer L21(x: f32[n]) -> f32[n] {
  return L22(x)
}

layer L22(x: f32[n]) -> f32[n] {
  return L23(x)
}

layer L23(x: f32[n]) -> f32[n] {
  return L24(x)
}

layer L24(x: f32[n]) -> f32[n] {
  return L25(x)
}

layer L25(x: f32[n]) -> f32[n] {
  return L26(x)
}

layer L26(x: f32[n]) -> f32[n] {
  return L27(x)
}

layer L27(x: f32[n]) -> f32[n] {
  return L28(x)
}

layer L28(x: f32[n]) -> f32[n] {
  return L29(x)
}

layer L29(x: f32[n]) -> f32[n] {
  return L30(x)
}

layer L30(x: f32[n]) -> f32[n] {
  return L31(x)
}

layer L31(x: f32[n]) -> f32[n] {
  return L32(x)
}

layer L32(x: f32[n]) -> f32[n] {
  return L33(x)
}

layer L33(x: f32[n]) -> f32[n] {
  return L34(x)
}

layer L34(x: f32[n]) -> f32[n] {
  return L35(x)
}

layer L35(x: f32[n]) -> f32[n] {
  return L36(x)
}

layer L36(x: f32[n]) -> f32[n] {
  return L37(x)
}

layer L37(x: f32[n]) -> f32[n] {
  return L38(x)
}

layer L38(x: f32[n]) -> f32[n] {
  return L39(x)
}

layer L39(x: f32[n]) -> f32[n] {
  return L40(x)
}

layer L40(x: f32[n]) -> f32[n] {
  return L41(x)
}

layer L41(x: f32[n]) -> f32[n] {
  return L42(x)
}

layer L42(x: f32[n]) -> f32[n] {
  return L43(x)
}

layer L43(x: f32[n]) -> f32[n] {
  return L44(x)
}

layer L44(x: f32[n]) -> f32[n] {
  return L45(x)
}

layer L45(x: f32[n]) -> f32[n] {
  return L46(x)
}

layer L46(x: f32[n]) -> f32[n] {
  return L47(x)
}

layer L47(x: f32[n]) -> f32[n] {
  return L48(x)
}

layer L48(x: f32[n]) -> f32[n] {
  return L49(x)
}

layer L49(x: f32[n]) -> f32[n] {
  return L50(x)
}

layer L50(x: f32[n]) -> f32[n] {
  return L51(x)
}

layer L51(x: f32[n]) -> f32[n] {
  return L52(x)
}

layer L52(x: f32[n]) -> f32[n] {
  return L53(x)
}

layer L53(x: f32[n]) -> f32[n] {
  return L54(x)
}

layer L54(x: f32[n]) -> f32[n] {
  return L55(x)
}

layer L55(x: f32[n]) -> f32[n] {
  return L56(x)
}

layer L56(x: f32[n]) -> f32[n] {
  return L57(x)
}

layer L57(x: f32[n]) -> f32[n] {
  return L58(x)
}

layer L58(x: f32[n]) -> f32[n] {
  return L59(x)
}

layer L59(x: f32[n]) -> f32[n] {
  return L60(x)
}

layer L60(x: f32[n]) -> f32[n] {
  return L61(x)
}

layer L61(x: f32[n]) -> f32[n] {
  return L62(x)
}

layer L62(x: f32[n]) -> f32[n] {
  return L63(x)
}

layer L63(x: f32[n]) -> f32[n] {
  return L64(x)
}

layer L64(x: f32[n]) -> f32[n] {
  return relu(x)
}

model M() {
  input x: f32[4]
  output y = L0(x)
}
// expect: FLX3042 at 254:10: layer calls nest more than 64 deep
