"""The baseline of bench/targets.ts: Kipf & Welling's GCN recipe on Cora in numpy, written the way
their code does it (gcn/models.py, gcn/layers.py): features kept sparse (CSR, row-normalised),
dropout on the stored values only, X·W before aggregation, no bias, weight decay 5e-4 on the first
layer's weights, Adam lr 0.01, 200 epochs. Prints one JSON line: epochs per second (after one
warm-up epoch), the final loss, test accuracy, and float32 matmul GFLOP/s at the sizes asked.

Usage: python3 bench/gcn_kipf_numpy.py DATA_DIR [EPOCHS] [MATMUL_SIZES...]"""

import json
import sys
import time

import numpy as np

try:  # Kipf's code multiplies sparse matrices with scipy (through TensorFlow); numpy alone below if absent
    import scipy.sparse as sp
except ImportError:  # pragma: no cover
    sp = None


class Csr:
    """A CSR matrix; `matmul` is scipy's when installed, else numpy's reduceat over the rows."""

    def __init__(self, indptr, indices, data, shape):
        self.indptr, self.indices, self.data, self.shape = indptr, indices, data, shape
        self.rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
        self.sp = sp.csr_matrix((data, indices, indptr), shape=shape) if sp else None

    def with_data(self, data):
        return Csr(self.indptr, self.indices, data, self.shape)

    def matmul(self, dense):
        if self.sp is not None:
            return np.asarray(self.sp @ dense, dtype=np.float32)
        out = np.zeros((self.shape[0], dense.shape[1]), np.float32)
        np.add.at(out, self.rows, self.data[:, None] * dense[self.indices])
        return out

    def t_matmul(self, dense):
        if self.sp is not None:
            return np.asarray(self.sp.T @ dense, dtype=np.float32)
        out = np.zeros((self.shape[1], dense.shape[1]), np.float32)
        np.add.at(out, self.indices, self.data[:, None] * dense[self.rows])
        return out


def load(d):
    meta = json.load(open(f"{d}/meta.json"))
    n, f = meta["nodes"], meta["features"]
    indptr = np.fromfile(f"{d}/feat_indptr.i32", np.int32)
    indices = np.fromfile(f"{d}/feat_indices.i32", np.int32)
    counts = np.diff(indptr).astype(np.float32)
    values = np.repeat(1 / np.maximum(counts, 1), np.diff(indptr)).astype(np.float32)
    x = Csr(indptr, indices, values, (n, f))
    e = np.fromfile(f"{d}/edges.i32", np.int32).reshape(-1, 2)
    src = np.concatenate([e[:, 0], np.arange(n)])
    dst = np.concatenate([e[:, 1], np.arange(n)])
    deg = np.bincount(dst, minlength=n).astype(np.float32)
    order = np.lexsort((src, dst))
    src, dst = src[order], dst[order]
    w = (deg[src] ** -0.5 * deg[dst] ** -0.5).astype(np.float32)
    a_indptr = np.concatenate([[0], np.cumsum(np.bincount(dst, minlength=n))]).astype(np.int32)
    a = Csr(a_indptr, src.astype(np.int32), w, (n, n))
    labels = np.fromfile(f"{d}/labels.i32", np.int32)
    split = meta["split"]
    return x, a, labels, np.array(split["train"]), np.array(split["test"]), meta["classes"]


def glorot(rng, i, o):
    r = np.sqrt(6 / (i + o))
    return rng.uniform(-r, r, (i, o)).astype(np.float32)


def train(d, epochs, seed=0):
    x, a, labels, train_idx, test_idx, classes = load(d)
    rng = np.random.default_rng(seed)
    params = [glorot(rng, x.shape[1], 16), glorot(rng, 16, classes)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, b1, b2, eps, wd, p_drop = 0.01, 0.9, 0.999, 1e-8, 5e-4, 0.5
    y = labels[train_idx]

    def epoch(t):
        w1, w2 = params
        keep = (rng.random(x.data.shape[0]) >= p_drop).astype(np.float32) / (1 - p_drop)
        xd = x.with_data(x.data * keep)
        xw = xd.matmul(w1)
        pre = a.matmul(xw)
        h = np.maximum(pre, 0)
        mask = (rng.random(h.shape) >= p_drop).astype(np.float32) / (1 - p_drop)
        hd = h * mask
        logits = a.matmul(hd @ w2)
        z = logits[train_idx]
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        loss = -np.log(p[np.arange(len(y)), y]).mean() + wd * 0.5 * np.sum(w1 * w1)
        g = p
        g[np.arange(len(y)), y] -= 1
        dlogits = np.zeros_like(logits)
        dlogits[train_idx] = g / len(y)
        dhw = a.t_matmul(dlogits)
        gw2 = hd.T @ dhw
        dh = (dhw @ w2.T) * mask * (pre > 0)
        dxw = a.t_matmul(dh)
        gw1 = xd.t_matmul(dxw) + wd * w1
        for k, gk in enumerate((gw1, gw2)):
            m[k] = b1 * m[k] + (1 - b1) * gk
            v[k] = b2 * v[k] + (1 - b2) * gk * gk
            params[k] -= lr * (m[k] / (1 - b1**t)) / (np.sqrt(v[k] / (1 - b2**t)) + eps)
        return loss

    epoch(1)
    t0 = time.perf_counter()
    loss = 0.0
    for t in range(2, epochs + 1):
        loss = epoch(t)
    rate = (epochs - 1) / (time.perf_counter() - t0)
    h = np.maximum(a.matmul(x.matmul(params[0])), 0)
    pred = a.matmul(h @ params[1]).argmax(1)
    return rate, float(loss), float((pred[test_idx] == labels[test_idx]).mean())


def matmul_gflops(n, repeat=5):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((n, n), np.float32)
    b = rng.standard_normal((n, n), np.float32)
    a @ b
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


if __name__ == "__main__":
    data = sys.argv[1]
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    sizes = [int(s) for s in sys.argv[3:]]
    rate, loss, acc = train(data, epochs)
    print(
        json.dumps(
            {
                "epochs_per_second": rate,
                "loss": loss,
                "test_accuracy": acc,
                "scipy": sp is not None,
                "matmul_gflops": {str(n): matmul_gflops(n) for n in sizes},
            }
        )
    )
