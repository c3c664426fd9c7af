#!/usr/bin/python3
"""Peer benchmark: the per-stage-shape workloads of peer_common.h in PyTorch.

    /usr/bin/python3 bench/peers/torch_bench.py [--threads N] [--batch N]
                                                [--reps N] [--min-ms X]
                                                [--shapes SUBSTR] [--quick]

Debian's python3-torch (1.13), float32, NCHW, eval, no_grad. The layers
through torch.nn.functional: conv2d and conv_transpose2d (output_padding
chosen so the restore gives the input's size, as output_size does), bias,
ReLU. The blocks are python/sbconv_torch.py's BasicBlock and SBBasic (the
very blocks sbconv runs) with each BatchNorm folded into its convolution,
as sbconv and the other peers run them: conv + bias, ReLU, and the input
added before the last ReLU. Same shapes, FLOP counts,
timing (one warm-up run, the median of --reps samples of at least --min-ms,
the two blocks in alternating pairs) and columns as onednn_bench and
xnnpack_bench; see peer_common.h.
"""

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.fusion import fuse_conv_bn_eval

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import sbconv_torch  # noqa: E402  (the repository's module, by path)

SHAPES = [
    ("cifar-16x32", 16, 32), ("cifar-32x16", 32, 16), ("cifar-64x8", 64, 8),
    ("in-64x56", 64, 56), ("in-128x28", 128, 28), ("in-256x14", 256, 14),
    ("in-512x7", 512, 7),
]


def half(h):
    return (h + 1) // 2


def flops(n, c, oh):
    return 2.0 * n * c * c * 9 * oh * oh


@torch.no_grad()
def folded(block, weights, biases):
    """block (eval) with conv1/bn1 and conv2/bn2 fused into convolutions with
    bias, whose weights and biases are then set to weights and biases."""
    block.eval()
    for i, (w, b) in enumerate(zip(weights, biases), 1):
        conv = fuse_conv_bn_eval(getattr(block, f"conv{i}"), getattr(block, f"bn{i}"),
                                 transpose=isinstance(getattr(block, f"conv{i}"), nn.ConvTranspose2d))
        conv.weight.copy_(w)
        conv.bias.copy_(b)
        setattr(block, f"conv{i}", conv)
        setattr(block, f"bn{i}", nn.Identity())
    return block


def sample(f, min_s):
    iters, start = 0, time.perf_counter()
    while True:
        f()
        iters += 1
        el = time.perf_counter() - start
        if el >= min_s:
            return el / iters


def timed(f, reps, min_s):
    f()
    return statistics.median(sample(f, min_s) for _ in range(reps))


def compare(a, b, reps, min_s):
    a(), b()
    ta, tb, r = [], [], []
    for _ in range(reps):
        x, y = sample(a, min_s / 2), sample(b, min_s / 2)
        ta.append(x), tb.append(y), r.append(x / y)
    return statistics.median(ta), statistics.median(tb), statistics.median(r)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--min-ms", type=float, default=10)
    p.add_argument("--shapes", default="")
    p.add_argument("--quick", action="store_true", help="one sample of 1 ms per cell")
    a = p.parse_args()
    if a.quick:
        a.reps, a.min_ms = 1, 1
    if min(a.threads, a.batch, a.reps) < 1 or a.min_ms <= 0:
        p.error("--threads, --batch, --reps and --min-ms must be positive")
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    min_s = a.min_ms / 1e3
    print(f"# pytorch {torch.__version__}  threads={torch.get_num_threads()}  N={a.batch}  "
          f"mkldnn={torch.backends.mkldnn.is_available()}")
    print(f"# times in microseconds (median of {a.reps} samples of >= {a.min_ms:.0f} ms; "
          f"blocks: {a.reps} alternating pairs), GFLOP/s by the peers' FLOP count")
    print(f"{'shape':<12} {'conv3x3s1':>10} {'GF/s':>6} {'conv3x3s2':>10} {'GF/s':>6} {'deconv_s2':>10} {'GF/s':>6} "
          f"{'basicblk':>10} {'sb_block':>10} {'ratio':>6} {'flops':>6}")
    with torch.no_grad():
        for name, c, h in SHAPES:
            if a.shapes not in name:
                continue
            n, hr = a.batch, half(h)
            opad = h - (2 * (hr - 1) - 2 + 3)  # output_padding giving h
            x = torch.randn(n, c, h, h) * 0.1
            lo = torch.randn(n, c, hr, hr) * 0.1
            w = [torch.randn(c, c, 3, 3) * 0.05 for _ in range(4)]
            b = [torch.randn(c) * 0.1 for _ in range(4)]

            def c1():
                return F.relu(F.conv2d(x, w[0], b[0], 1, 1))

            def c2():
                return F.relu(F.conv2d(x, w[1], b[1], 2, 1))

            def dc():
                return F.relu(F.conv_transpose2d(lo, w[2], b[2], 2, 1, opad))

            basic_block = folded(sbconv_torch.BasicBlock(c, c), [w[0], w[3]], [b[0], b[3]])
            sb_block = folded(sbconv_torch.SBBasic(c, c), [w[1], w[2]], [b[1], b[2]])

            def basic():
                return basic_block(x)

            def sb():
                return sb_block(x)

            assert dc().shape[-1] == h and sb().shape == x.shape
            # the folded blocks are the functional layers above, composed
            assert torch.allclose(basic(), F.relu(F.conv2d(c1(), w[3], b[3], 1, 1) + x), atol=1e-5)
            assert torch.allclose(sb(), F.relu(F.conv_transpose2d(c2(), w[2], b[2], 2, 1, opad) + x), atol=1e-5)
            t = [timed(f, a.reps, min_s) * 1e6 for f in (c1, c2, dc)]
            tb, ts, ratio = compare(basic, sb, a.reps, min_s)
            full, hf = flops(n, c, h), flops(n, c, hr)
            print(f"{name:<12} {t[0]:10.1f} {full / t[0] / 1e3:6.1f} {t[1]:10.1f} {hf / t[1] / 1e3:6.1f} "
                  f"{t[2]:10.1f} {hf / t[2] / 1e3:6.1f} {tb * 1e6:10.1f} {ts * 1e6:10.1f} {ratio:6.2f} {full / hf:6.2f}")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
