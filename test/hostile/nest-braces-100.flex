model M() {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  repeat 1 as i {
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
  }
}
// expect: FLX1008 at 65:17: brackets nest more than 64 deep here
