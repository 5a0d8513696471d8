model M() {
  input x: f32[4, 8]
  output y = relu(x)
}

hardware HostOnly {
  gpu { memory: 24 GiB, bandwidth: 1 TB/s, fp32: 80 TFLOPS }
  host { memory: 256 GiB, bandwidth: 100 GB/s }
  link gpu <-> host { bandwidth: 25 GB/s }
}

plan p {
  model: M
  on: HostOnly
  task: infer
  placement: ssd
}
// expect: FLX5014 at 16:3: `placement: ssd` places activations in an SSD, which hardware `HostOnly` does not have
