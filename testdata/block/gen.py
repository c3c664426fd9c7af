#!/usr/bin/python3
"""Generate testdata/block/: whole-network PyTorch test cases for sbconv.

Run from anywhere with Debian's PyTorch 1.13 (/usr/bin/python3; no other
Python package is needed):

    /usr/bin/python3 testdata/block/gen.py

The networks, their random weights and the file writer are the repository's
PyTorch module, python/sbconv_torch.py (ResNet, randomize, save). For every
case NAME in CASES it writes, next to this script,

    NAME.safetensors     the model's state_dict, every key (num_batches_tracked
                         included, I64, shape []), in the case's dtype, with the
                         network's description in __metadata__ (sbconv_torch.save)
    NAME.io.safetensors  {"input": F32 [batch,3,h,w], "logits": F32
                         [batch,num_classes]}, eval mode, no_grad
    cases.json           the list of cases (name, arch, sb, width, num_classes,
                         batch, h, w, dtype, rate)

and prints a summary table. The output is byte-for-byte deterministic for a
given torch build (fixed seed, no timestamps). See README.md for the format.
"""

import hashlib
import json
import os
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import sbconv_torch  # noqa: E402  (the repository's module, by path)

SEED = 1809_02601


@torch.no_grad()
def round_to(model, dtype):
    """Round every floating parameter and buffer to dtype and back to float32."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            t.copy_(t.to(dtype).to(torch.float32))


# ---------------------------------------------------------------------------
# An independent reader (numpy, not sbconv_torch's) for the self-check

ST_DTYPES = {  # safetensors name -> (torch dtype, numpy dtype of the same bits)
    "F32": (torch.float32, "<f4"), "F16": (torch.float16, "<f2"), "BF16": (torch.bfloat16, "<i2"),
    "I64": (torch.int64, "<i8"),
}


def read_safetensors(path):
    """Returns (ordered dict name -> tensor, metadata), checking the layout strictly."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and 8 + n <= len(raw), (path, n)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = raw[8 + n:]
    meta = header.pop("__metadata__", {})
    out, end = {}, 0
    for name, e in header.items():
        dt, npdt = ST_DTYPES[e["dtype"]]
        b, f_ = e["data_offsets"]
        assert b == end, (path, name, "offsets not contiguous")
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        assert f_ - b == count * np.dtype(npdt).itemsize, (path, name)
        t = torch.from_numpy(np.frombuffer(data[b:f_], dtype=npdt).copy())
        out[name] = t.view(dt).reshape(e["shape"])
        end = f_
    assert end == len(data), (path, "trailing bytes")
    return out, meta


# ---------------------------------------------------------------------------
# Cases

def case(arch, sb, width, num_classes, batch, h, w, dtype="F32", rate=2, kr=None, k=None):
    tag = "sb" + "".join(map(str, sb)) if sb else "reg"
    if rate != 2:
        tag += f"r{rate}"
    if kr is not None or k is not None:
        tag += f"kr{kr or rate | 1}k{k or rate | 1}"
    name = f"{arch}_{tag}_w{width}_c{num_classes}_{h}x{w}_b{batch}_{dtype.lower()}"
    c = {"name": name, "arch": arch, "sb": list(sb), "width": width, "num_classes": num_classes,
         "batch": batch, "h": h, "w": w, "dtype": dtype, "rate": rate}
    if kr is not None or k is not None:  # the network's own kernels (default_kernel(rate) else)
        c["reduce_kernel"], c["restore_kernel"] = kr or rate | 1, k or rate | 1
    return c


CASES = [
    # CIFAR (3 stages)
    case("resnet20", [1, 2, 3], 16, 10, 2, 32, 32),
    case("resnet20", [], 6, 10, 1, 33, 31),
    case("resnet32", [], 8, 10, 2, 32, 32),
    case("resnet32", [2], 6, 7, 1, 17, 17),
    case("resnet44", [1, 3], 8, 10, 2, 33, 31, "F16"),
    case("resnet44", [1, 2, 3], 6, 10, 1, 32, 32),
    case("resnet56", [], 6, 10, 1, 32, 32, "BF16"),
    case("resnet56", [1, 2, 3], 6, 10, 2, 17, 17, "BF16"),
    case("resnet110", [1, 2, 3], 4, 10, 1, 32, 32),
    # ImageNet (4 stages; 29x29 and 17x17 reach 1x1 in layer4)
    case("resnet18", [], 4, 1000, 2, 64, 64),
    case("resnet18", [1, 2, 3, 4], 4, 7, 1, 65, 57),
    case("resnet18", [2, 4], 8, 10, 1, 17, 17, "BF16"),
    case("resnet34", [], 6, 7, 1, 97, 81, "F16"),
    case("resnet34", [1, 2, 3, 4], 4, 10, 2, 29, 29),
    case("resnet50", [], 4, 10, 2, 65, 57),
    case("resnet50", [1, 2, 3, 4], 4, 10, 1, 64, 64),
    case("resnet50", [1, 3], 3, 7, 1, 97, 81),
    case("resnet50", [1, 2, 3, 4], 4, 10, 1, 29, 29, "BF16"),
    # Sampling rates 3 and 4 (default kernels: Kr = K = 3 at rate 3, 5 at
    # rate 4), odd sizes where the restore's output_size matters
    case("resnet20", [1, 2, 3], 6, 10, 1, 33, 31, rate=3),
    case("resnet20", [1, 2, 3], 4, 10, 2, 32, 32, rate=4),
    case("resnet32", [2], 4, 7, 2, 17, 19, "F16", rate=4),
    case("resnet18", [1, 2, 3, 4], 4, 10, 1, 65, 57, rate=3),
    case("resnet34", [2, 4], 2, 10, 1, 29, 31, rate=4),
    case("resnet50", [1, 2, 3, 4], 2, 7, 1, 97, 81, rate=4),
    case("resnet50", [1, 3], 3, 10, 1, 45, 37, rate=3),
    # Other kernel sizes than the default (Kr any, K in rate..2*rate-1),
    # which the weights' shapes carry: even restores (their phases differ
    # in width) and a 1x1 reduce, on every set through the golden test.
    case("resnet20", [1, 2, 3], 4, 10, 1, 31, 38, rate=4, kr=3, k=6),
    case("resnet32", [1, 3], 5, 7, 2, 21, 29, "F16", rate=3, kr=2, k=5),
    case("resnet18", [1, 2, 3, 4], 4, 10, 1, 61, 74, rate=4, kr=7, k=7),
    case("resnet50", [2, 4], 3, 10, 1, 56, 81, rate=2, kr=1, k=3),
]


def check_sb_sizes():
    """The spatial bottleneck's sizes on the odd examples of the docstring,
    and at rates 3 and 4."""
    for rate, s, h, mid, out in [(3, 1, 7, 3, 7), (3, 2, 14, 3, 7), (3, 1, 8, 3, 8), (4, 1, 9, 3, 9), (4, 2, 17, 3, 9),
                                 (4, 2, 2, 1, 1), (3, 1, 1, 1, 1)]:
        for blk in (sbconv_torch.SBBasic(4 if s == 1 else 2, 4, s, rate), sbconv_torch.SBBottleneck(16, 4, s, rate)):
            blk.eval()
            with torch.no_grad():
                y = blk(torch.randn(1, blk.conv1.in_channels, h, h + 1))
            conv_down = blk.conv1 if isinstance(blk, sbconv_torch.SBBasic) else blk.conv2
            assert (h - 1) // (rate * s) + 1 == mid, (rate, s, h)
            assert conv_down.stride == (rate * s, rate * s), (rate, conv_down)
            assert tuple(y.shape[2:]) == (out, h // s + 1), (type(blk).__name__, rate, s, h, y.shape)
    for s, h, mid, out in [(1, 7, 4, 7), (2, 14, 4, 7), (1, 8, 4, 8), (2, 17, 5, 9), (1, 1, 1, 1), (2, 2, 1, 1)]:
        for blk in (sbconv_torch.SBBasic(4 if s == 1 else 2, 4, s), sbconv_torch.SBBottleneck(16, 4, s)):
            blk.eval()
            seen = {}
            conv_down = blk.conv1 if isinstance(blk, sbconv_torch.SBBasic) else blk.conv2
            conv_down.register_forward_hook(lambda m, i, o: seen.__setitem__("mid", tuple(o.shape[2:])))
            with torch.no_grad():
                y = blk(torch.randn(1, blk.conv1.in_channels, h, h + 1))
            w_mid = (h + 1 + 2 - 3) // (2 * s) + 1
            w_out = (h + 1 - 1) // s + 1
            assert seen["mid"] == (mid, w_mid), (type(blk).__name__, s, h, seen)
            assert tuple(y.shape[2:]) == (out, w_out), (type(blk).__name__, s, h, y.shape)


def sb_size_hooks(model):
    """Hooks asserting every SB block's output size is the shortcut's."""
    handles = []

    def hook(m, inp, out):
        x = inp[0]
        s = m.stride
        want = ((x.shape[2] - 1) // s + 1, (x.shape[3] - 1) // s + 1)
        assert tuple(out.shape[2:]) == want, (type(m).__name__, tuple(x.shape), tuple(out.shape))
        hook.count += 1
        hook.min = min(hook.min, *out.shape[2:])

    hook.count, hook.min = 0, 1 << 30
    for b in sbconv_torch.blocks(model):
        if b.sb:
            handles.append(b.register_forward_hook(hook))
    return hook, handles


def min_map(model, x):
    """The smallest spatial size of any block output."""
    sizes = []
    hs = [b.register_forward_hook(lambda m, i, o: sizes.append(min(o.shape[2:]))) for b in sbconv_torch.blocks(model)]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return min(sizes)


def generate(c, gen):
    dtype = ST_DTYPES[c["dtype"]][0]
    model = sbconv_torch.ResNet(c["arch"], c["sb"], c["width"], c["num_classes"], c["rate"],
                                c.get("reduce_kernel"), c.get("restore_kernel"))
    sbconv_torch.randomize(model, gen)
    round_to(model, dtype)
    model.eval()
    if c.get("restore_kernel"):
        assert (model.reduce_kernel, model.restore_kernel) == (c["reduce_kernel"], c["restore_kernel"]), c["name"]
    x = torch.randn(c["batch"], 3, c["h"], c["w"], generator=gen, dtype=torch.float32)

    hook, handles = sb_size_hooks(model)
    with torch.no_grad():
        y32 = model(x)
    for h in handles:
        h.remove()
    assert hook.count == sum(b.sb for b in sbconv_torch.blocks(model)), c["name"]
    with torch.no_grad():
        y64 = model.double()(x.double())
    model.float()
    assert y32.shape == (c["batch"], c["num_classes"])
    err = (y32.double() - y64).abs().max().item()
    scale = max(1.0, y64.abs().max().item())
    assert err <= 1e-4 * scale, (c["name"], "float32 vs float64 logits", err, scale)
    assert torch.isfinite(y64).all()

    sd = model.state_dict()
    wpath = os.path.join(HERE, c["name"] + ".safetensors")
    iopath = os.path.join(HERE, c["name"] + ".io.safetensors")
    sbconv_torch.save(model, wpath, dtype=dtype)
    sbconv_torch.write_safetensors(iopath, [("input", x), ("logits", y64.float())],
                      {"format": "pt", "name": c["name"], "eval": "true"})

    # self-check: the writer, through an independent reader
    back, bmeta = read_safetensors(wpath)
    assert list(back) == list(sd), c["name"]
    assert bmeta == model.description(), (c["name"], bmeta)
    assert (bmeta["arch"], json.loads(bmeta["sb"]), int(bmeta["width"]), int(bmeta["num_classes"]), int(bmeta["rate"])) == \
        (c["arch"], c["sb"], c["width"], c["num_classes"], c["rate"]), (c["name"], bmeta)
    for k, v in sd.items():
        b = back[k]
        want = v if v.dtype == torch.int64 else v.to(dtype)
        assert b.dtype == want.dtype and b.shape == want.shape, (k, b.dtype, b.shape, want.dtype, want.shape)
        assert torch.equal(b, want), k
        if v.is_floating_point():  # rounded before the logits: the stored weights are the ones used
            assert torch.equal(b.float(), v), k
    # and the stored weights, loaded by sbconv_torch.load, reproduce the logits
    fresh = sbconv_torch.load(wpath)
    io, _ = read_safetensors(iopath)
    assert torch.equal(io["input"], x)
    with torch.no_grad():
        yf = fresh.double()(io["input"].double()).float()
    assert torch.equal(yf, io["logits"]), c["name"]

    nparams = sum(v.numel() for k, v in sd.items() if not k.endswith("num_batches_tracked"))
    size = os.path.getsize(wpath) + os.path.getsize(iopath)
    return nparams, size, y64.abs().max().item(), err, min_map(model, x)


def main():
    torch.set_num_threads(min(2, torch.get_num_threads()))
    torch.manual_seed(SEED)  # module constructors draw from the global generator
    check_sb_sizes()
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names)
    gen = torch.Generator().manual_seed(SEED)
    print(f"# torch {torch.__version__}, seed {SEED}")
    print(f"{'name':46s} {'params':>8s} {'bytes':>9s} {'max|logit|':>10s} {'f32 err':>8s} {'min map':>7s}")
    total = 0
    for c in CASES:
        torch.manual_seed(SEED)
        nparams, size, mx, err, mm = generate(c, gen)
        total += size
        print(f"{c['name']:46s} {nparams:8d} {size:9d} {mx:10.3f} {err:8.1e} {mm:7d}")
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        f.write("[\n" + ",\n".join(" " + json.dumps(c) for c in CASES) + "\n]\n")
    total += os.path.getsize(os.path.join(HERE, "cases.json"))
    print(f"total {total} bytes in {2 * len(CASES) + 1} files")
    h = hashlib.sha256()
    for n in sorted(os.listdir(HERE)):
        if n.endswith(".safetensors") or n == "cases.json":
            with open(os.path.join(HERE, n), "rb") as f:
                h.update(n.encode() + b"\0" + f.read())
    print("sha256 of outputs", h.hexdigest())


if __name__ == "__main__":
    main()
