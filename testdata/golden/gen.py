#!/usr/bin/python3
"""Generate testdata/golden/cases.bin.gz: PyTorch golden outputs for sbconv.

Run from anywhere with a Python that has torch (Debian's /usr/bin/python3
has torch 1.13):

    /usr/bin/python3 testdata/golden/gen.py

It writes exactly one file, cases.bin.gz next to this script. The output is
deterministic for a given torch build (fixed seeds, gzip mtime 0). The Go
package internal/golden reads it, for kernels/golden_test.go (the public
API) and kernels/ref/ref_test.go (the reference kernels); PyTorch is never
needed to run tests.

Every case computes, in float32 on the CPU,

    out = relu?(F.conv2d(x, w, b, stride, padding) + residual)          (kind 0)
    out = relu?(F.conv_transpose2d(x, w, b, stride, padding,
                                   output_padding) + residual)          (kind 1)

with bias b and residual optional and the ReLU applied only when the flag is
set. All random values (x, w, b, residual) are U(-1, 1) rounded to a
multiple of 2**-10 (QBITS): float32 values with at most 11 significant bits,
which gzip stores in about 2 bytes instead of 3.7, so the file stays near
1.3 MB. It does not weaken the check: sums of products still round (a
product of two such values is exact, a sum of hundreds is not), and the
outputs are full-precision float32 as PyTorch computed them.

File format (after gunzip), all integers little-endian:

    header:  8 bytes  magic  b"SBGOLD1\\n"
             uint32   format version (1)
             uint32   number of cases
    each case:
             uint8    kind: 0 = Conv2d, 1 = ConvTranspose2d
             uint8    flags: bit 0 bias present, bit 1 residual present,
                      bit 2 ReLU; other bits zero
             int32 x 15:  N, InC, OutC, H, W, KH, KW, SH, SW, PH, PW,
                          OPH, OPW, OH, OW
                      (SH/SW strides, PH/PW padding on each side, OPH/OPW
                      PyTorch's output_padding (0 for Conv2d), OH/OW the
                      output size PyTorch produced)
             float32 x N*InC*H*W        input, NCHW
             float32 x OutC*InC*KH*KW   weights in PyTorch's own layout:
                                        OIHW for Conv2d, IOHW for
                                        ConvTranspose2d
             float32 x OutC             bias          (only if flags bit 0)
             float32 x N*OutC*OH*OW     residual NCHW (only if flags bit 1)
             float32 x N*OutC*OH*OW     PyTorch's output, NCHW
    trailer: 8 bytes  magic  b"SBGOLDE\\n"

Each case does 1e4..2e6 FLOPs (2 per multiply-add that reaches the output)
and the random ones store at most MAX_FLOATS floats, so the whole Go test
runs in about a second. Hand-picked cases (fixed_cases) cover the spatial
bottleneck's reduce/restore pairs (7 -> 4 -> 7, 8 -> 4 -> 8 with k=3, s=2,
p=1), k=2 s=2 p=0 and k=4 s=2 p=1 upsampling, and border extremes; the rest
are drawn at random (random_case).
"""

import gzip
import io
import math
import os
import random
import struct
import sys

import torch
import torch.nn.functional as F

MAGIC = b"SBGOLD1\n"
TRAILER = b"SBGOLDE\n"
VERSION = 1
MIN_FLOPS, MAX_FLOPS = 1e4, 2e6
MAX_FLOATS = 8000  # stored floats per random case (keeps the file near 1.3 MB)
QBITS = 10  # inputs are multiples of 2**-QBITS
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.bin.gz")

torch.manual_seed(20180907)
torch.set_num_threads(1)
rng = random.Random(1809)  # shapes
gen = torch.Generator().manual_seed(2601)  # values


def uniform(*shape):
    """U(-1, 1) float32 rounded to a multiple of 2**-QBITS (see the docstring)."""
    u = torch.rand(*shape, generator=gen, dtype=torch.float64) * 2 - 1
    return (torch.round(u * 2**QBITS) / 2**QBITS).to(torch.float32)


def taps(inp, out, k, s, p):
    """Multiply-adds along one axis of a transposed conv that land in [0, out)."""
    return sum(1 for i in range(inp) for j in range(k) if 0 <= i * s - p + j < out)


def flops(c):
    if c["kind"] == 0:
        return 2 * c["N"] * c["OutC"] * c["OH"] * c["OW"] * c["InC"] * c["KH"] * c["KW"]
    return (2 * c["N"] * c["InC"] * c["OutC"]
            * taps(c["H"], c["OH"], c["KH"], c["SH"], c["PH"])
            * taps(c["W"], c["OW"], c["KW"], c["SW"], c["PW"]))


def out_size(c):
    if c["kind"] == 0:
        return ((c["H"] + 2 * c["PH"] - c["KH"]) // c["SH"] + 1,
                (c["W"] + 2 * c["PW"] - c["KW"]) // c["SW"] + 1)
    return ((c["H"] - 1) * c["SH"] - 2 * c["PH"] + c["KH"] + c["OPH"],
            (c["W"] - 1) * c["SW"] - 2 * c["PW"] + c["KW"] + c["OPW"])


def make(kind, n, inc, outc, h, w, kh, kw, sh, sw, ph, pw, oph=0, opw=0,
         bias=True, res=False, relu=False):
    c = dict(kind=kind, N=n, InC=inc, OutC=outc, H=h, W=w, KH=kh, KW=kw,
             SH=sh, SW=sw, PH=ph, PW=pw, OPH=oph, OPW=opw,
             bias=bias, res=res, relu=relu)
    c["OH"], c["OW"] = out_size(c)
    return c


def legal(c):
    if c["OH"] < 1 or c["OW"] < 1:
        return False
    if c["kind"] == 0 and (c["H"] + 2 * c["PH"] < c["KH"] or c["W"] + 2 * c["PW"] < c["KW"]):
        return False
    if c["kind"] == 1 and (c["OPH"] >= c["SH"] or c["OPW"] >= c["SW"]):
        return False
    return MIN_FLOPS <= flops(c) <= MAX_FLOPS


def stored_floats(c):
    out = c["N"] * c["OutC"] * c["OH"] * c["OW"]
    return (c["N"] * c["InC"] * c["H"] * c["W"] + c["OutC"] * c["InC"] * c["KH"] * c["KW"]
            + (c["OutC"] if c["bias"] else 0) + out * (2 if c["res"] else 1))


CHANNELS = [1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 15, 16, 17, 19, 23, 24, 25, 29,
            31, 32, 33, 37, 40]


def random_case(kind):
    while True:
        kh = rng.randint(1, 7)
        kw = kh if rng.random() < 0.6 else rng.randint(1, 7)
        sh = rng.randint(1, 3)
        sw = sh if rng.random() < 0.7 else rng.randint(1, 3)

        def pad(k):
            return rng.randint(0, k // 2) if rng.random() < 0.8 else rng.randint(0, k - 1)

        ph, pw = pad(kh), pad(kw)
        h, w = rng.randint(1, 17), rng.randint(1, 17)
        oph = rng.randint(0, sh - 1) if kind == 1 else 0
        opw = rng.randint(0, sw - 1) if kind == 1 else 0
        c = make(kind, rng.randint(1, 2), rng.choice(CHANNELS), rng.choice(CHANNELS),
                 h, w, kh, kw, sh, sw, ph, pw, oph, opw,
                 bias=rng.random() < 0.6, res=rng.random() < 0.4, relu=rng.random() < 0.5)
        if legal(c) and stored_floats(c) <= MAX_FLOATS:
            return c


def fixed_cases():
    """Hand-picked shapes: the spatial bottleneck's reduce/restore pairs and
    edge cases the random draw might miss."""
    cs = []
    for inc, outc in [(16, 16), (13, 21)]:
        # SB reduce: 3x3 stride 2 pad 1, 7 -> 4 and 8 -> 4.
        cs.append(make(0, 1, inc, outc, 7, 7, 3, 3, 2, 2, 1, 1, bias=True, relu=True))
        cs.append(make(0, 2, inc, outc, 8, 8, 3, 3, 2, 2, 1, 1, bias=True, relu=True))
        # SB restore: 3x3 transposed stride 2 pad 1, 4 -> 7 (op 0), 4 -> 8 (op 1).
        cs.append(make(1, 1, outc, inc, 4, 4, 3, 3, 2, 2, 1, 1, 0, 0, bias=True, res=True, relu=True))
        cs.append(make(1, 2, outc, inc, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, bias=True, res=True, relu=True))
        # mixed: 7 x 8 -> 4 x 4 -> 7 x 8.
        cs.append(make(1, 1, outc, inc, 4, 4, 3, 3, 2, 2, 1, 1, 0, 1, bias=False, res=True, relu=False))
        # k=2 s=2 p=0 (4 -> 8) and k=4 s=2 p=1 (4 -> 8) upsampling.
        cs.append(make(1, 1, inc, outc, 4, 4, 2, 2, 2, 2, 0, 0, bias=True, relu=False))
        cs.append(make(1, 2, inc, outc, 4, 5, 4, 4, 2, 2, 1, 1, bias=False, res=True, relu=True))
    # More restores at other sizes and channel counts around the blocks.
    cs.append(make(1, 1, 8, 8, 7, 7, 3, 3, 2, 2, 1, 1, 0, 0, bias=True, res=True, relu=True))     # 7 -> 13
    cs.append(make(1, 1, 9, 17, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, bias=False, relu=True))             # 7 -> 14
    cs.append(make(1, 1, 32, 32, 2, 2, 3, 3, 2, 2, 1, 1, 0, 1, bias=True, res=True, relu=True))   # 2 -> 3 x 4
    cs.append(make(1, 2, 3, 40, 5, 3, 2, 2, 2, 2, 0, 0, bias=True, relu=False))                   # k2s2: 5x3 -> 10x6
    cs.append(make(1, 1, 33, 7, 3, 4, 4, 4, 2, 2, 1, 1, 1, 1, bias=True, res=True, relu=False))   # k4s2p1 + op
    cs.append(make(1, 2, 37, 40, 1, 1, 3, 3, 2, 2, 0, 0, 1, 1, bias=True, relu=True))            # 1x1 input
    cs.append(make(1, 1, 17, 24, 3, 3, 5, 5, 3, 3, 4, 4, 2, 2, bias=True, res=True, relu=True))   # pad k-1, op 2
    # Conv2d edge cases: 1x1 kernels with stride, pad up to k-1, 1-pixel sides.
    cs.append(make(0, 2, 40, 17, 9, 9, 1, 1, 2, 2, 0, 0, bias=True, res=True, relu=True))
    cs.append(make(0, 1, 7, 9, 5, 6, 3, 3, 1, 1, 2, 2, bias=True, res=False, relu=False))
    cs.append(make(0, 1, 16, 16, 1, 17, 3, 3, 1, 1, 1, 1, bias=True, res=True, relu=True))
    cs.append(make(0, 2, 11, 13, 17, 1, 7, 1, 3, 1, 3, 0, bias=False, res=False, relu=True))
    cs.append(make(0, 1, 24, 24, 6, 6, 4, 2, 2, 1, 1, 0, bias=True, res=True, relu=False))        # even kernel
    cs.append(make(0, 1, 5, 3, 3, 3, 3, 3, 1, 1, 3, 3, bias=True, res=True, relu=True))           # pad = k: windows wholly in padding
    bad = [c for c in cs if not legal(c)]
    assert not bad, bad
    return cs


def compute(c):
    n, inc, outc = c["N"], c["InC"], c["OutC"]
    x = uniform(n, inc, c["H"], c["W"])
    if c["kind"] == 0:
        w = uniform(outc, inc, c["KH"], c["KW"])  # OIHW
    else:
        w = uniform(inc, outc, c["KH"], c["KW"])  # IOHW
    b = uniform(outc) if c["bias"] else None
    r = uniform(n, outc, c["OH"], c["OW"]) if c["res"] else None

    def run(dtype):
        xx, ww = x.to(dtype), w.to(dtype)
        bb = b.to(dtype) if b is not None else None
        if c["kind"] == 0:
            y = F.conv2d(xx, ww, bb, stride=(c["SH"], c["SW"]), padding=(c["PH"], c["PW"]))
        else:
            y = F.conv_transpose2d(xx, ww, bb, stride=(c["SH"], c["SW"]), padding=(c["PH"], c["PW"]),
                                   output_padding=(c["OPH"], c["OPW"]))
        if r is not None:
            y = y + r.to(dtype)
        if c["relu"]:
            y = torch.relu(y)
        return y

    y = run(torch.float32)
    assert tuple(y.shape) == (n, outc, c["OH"], c["OW"]), (y.shape, c)
    # Sanity: PyTorch's float32 result against float64, on the same scale the
    # Go test uses, to show how much room the Go tolerance leaves.
    y64 = run(torch.float64)
    k = inc * c["KH"] * c["KW"]
    err = ((y.double() - y64).abs() / (y64.abs() + math.sqrt(k))).max().item()
    return x, w, b, r, y, err


def floats(t):
    return t.contiguous().numpy().astype("<f4").tobytes()


def main():
    cases = fixed_cases()
    nfixed = len(cases)
    cases += [random_case(0) for _ in range(50)]
    cases += [random_case(1) for _ in range(60 - sum(c["kind"] for c in cases))]
    rng.shuffle(cases)

    buf = io.BytesIO()
    buf.write(MAGIC)
    buf.write(struct.pack("<II", VERSION, len(cases)))
    worst = 0.0
    for c in cases:
        x, w, b, r, y, err = compute(c)
        worst = max(worst, err)
        flags = (1 if c["bias"] else 0) | (2 if c["res"] else 0) | (4 if c["relu"] else 0)
        buf.write(struct.pack("<BB", c["kind"], flags))
        buf.write(struct.pack("<15i", *(c[k] for k in (
            "N", "InC", "OutC", "H", "W", "KH", "KW", "SH", "SW", "PH", "PW",
            "OPH", "OPW", "OH", "OW"))))
        for t in (x, w, b, r, y):
            if t is not None:
                buf.write(floats(t))
    buf.write(TRAILER)

    with open(OUT, "wb") as f:
        with gzip.GzipFile(filename="", mode="wb", fileobj=f, compresslevel=9, mtime=0) as gz:
            gz.write(buf.getvalue())

    kinds = [sum(1 for c in cases if c["kind"] == k) for k in (0, 1)]
    fl = [flops(c) for c in cases]
    print("wrote %s: %d cases (%d conv2d, %d conv_transpose2d; %d hand-picked), %d bytes "
          "(%d raw), FLOPs %.3g..%.3g (total %.3g); torch %s float32 vs float64: "
          "max |err|/(|want|+sqrt(K)) = %.3g"
          % (OUT, len(cases), kinds[0], kinds[1], nfixed, os.path.getsize(OUT),
             len(buf.getvalue()), min(fl), max(fl), sum(fl), torch.__version__, worst),
          file=sys.stderr)


if __name__ == "__main__":
    main()
