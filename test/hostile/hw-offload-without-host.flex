import { Linear } from "std/nn"

hardware H {
  gpu x 2 { memory: 8 GiB, bandwidth: 100 GB/s, fp32: 10 TFLOPS }
  network { topology: nvlink, bandwidth: 300 GB/s, latency: 5 us }
}

model M() {
  input x: f32[4, 3]
  input t: i32[4]
  output loss = cross_entropy(Linear(x, out: 5), t)
}

plan p {
  model: M
  on: H
  parallel: { data: 2, zero: 1, offload: [optimizer] }
  task: train { optimizer: sgd(lr: 0.1) }
}
// expect: FLX5013 at 17:3: offloading optimizer needs host memory and a link to it; hardware `H` declares no `host`
