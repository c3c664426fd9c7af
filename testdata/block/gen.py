#!/usr/bin/python3
"""Generate testdata/block/: whole-network PyTorch test cases for sbconv.

Run from anywhere with Debian's PyTorch 1.13 (/usr/bin/python3; no other
Python package is needed, the safetensors format is written by hand):

    /usr/bin/python3 testdata/block/gen.py

For every case NAME in CASES it writes, next to this script,

    NAME.safetensors     the model's state_dict, every key (num_batches_tracked
                         included, I64, shape []), in the case's dtype
    NAME.io.safetensors  {"input": F32 [batch,3,h,w], "logits": F32
                         [batch,num_classes]}, eval mode, no_grad
    cases.json           the list of cases (name, arch, sb, width, num_classes,
                         batch, h, w, dtype)

and prints a summary table. The output is byte-for-byte deterministic for a
given torch build (fixed seed, no timestamps). See README.md for the format.

The module definitions below (BasicBlock, Bottleneck, SBBasic, SBBottleneck,
CifarResNet, ImageNetResNet, build) are also imported by
bench/peers/torch_resnet.py, so importing this file must not generate
anything: the work happens only under __main__.

Blocks
    BasicBlock, Bottleneck   torchvision's (v1.5: the stride is on the 3x3
                             conv2 of the bottleneck; expansion 4)
    SBBasic                  the spatial bottleneck replacing both 3x3 convs:
                             conv1 3x3 stride 2*s pad 1, conv2 3x3 transposed
                             stride 2 pad 1 restoring the block's output size
    SBBottleneck             replacing the middle 3x3 conv: conv1 1x1,
                             conv2 3x3 stride 2*s pad 1, conv3 3x3 transposed
                             stride 2 pad 1, conv4 1x1 to 4*planes
s is the block's own stride (2 at the first block of stages 2 and up), and
the block's output size is the shortcut's: (H-1)//s+1 by (W-1)//s+1, so odd
sizes work (7 -> 4 -> 7; a stage entry 14 -> 4 -> 7). The projection
shortcut, wherever the stride or the channel count changes, is downsample.0
(1x1 conv stride s) + downsample.1 (BatchNorm2d). All convs bias=False;
BatchNorm eps 1e-5.
"""

import hashlib
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from typing import List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 1809_02601

# ---------------------------------------------------------------------------
# Blocks


def conv3x3(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def conv1x1(c_in, c_out, stride=1):
    return nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)


def projection(c_in, c_out, stride):
    """The projection shortcut, or None where it is the identity."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(conv1x1(c_in, c_out, stride), nn.BatchNorm2d(c_out))


class BasicBlock(nn.Module):
    """torchvision's BasicBlock."""
    expansion = 1
    sb = False

    def __init__(self, c_in, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(c_in, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = projection(c_in, planes, stride)
        self.stride = stride

    def last_bn(self):
        return self.bn2

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5, stride on conv2, width = planes)."""
    expansion = 4
    sb = False

    def __init__(self, c_in, planes, stride=1):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(c_in, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = projection(c_in, planes * self.expansion, stride)
        self.stride = stride

    def last_bn(self):
        return self.bn3

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class SBBasic(nn.Module):
    """Spatial bottleneck replacing both 3x3 convolutions of a BasicBlock."""
    expansion = 1
    sb = True

    def __init__(self, c_in, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, planes, 3, stride=2 * stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.ConvTranspose2d(planes, planes, 3, stride=2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = projection(c_in, planes, stride)
        self.stride = stride

    def last_bn(self):
        return self.bn2

    def forward(self, x):
        s = self.stride
        out_size = [(x.shape[2] - 1) // s + 1, (x.shape[3] - 1) // s + 1]
        identity = x
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y, output_size=out_size))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(y + identity)


class SBBottleneck(nn.Module):
    """Spatial bottleneck replacing the middle 3x3 convolution of a Bottleneck."""
    expansion = 4
    sb = True

    def __init__(self, c_in, planes, stride=1):
        super().__init__()
        width = planes
        self.conv1 = conv1x1(c_in, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=2 * stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.ConvTranspose2d(width, width, 3, stride=2, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv4 = conv1x1(width, planes * self.expansion)
        self.bn4 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = projection(c_in, planes * self.expansion, stride)
        self.stride = stride

    def last_bn(self):
        return self.bn4

    def forward(self, x):
        s = self.stride
        out_size = [(x.shape[2] - 1) // s + 1, (x.shape[3] - 1) // s + 1]
        identity = x
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.relu(self.bn3(self.conv3(y, output_size=out_size)))
        y = self.bn4(self.conv4(y))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(y + identity)


# ---------------------------------------------------------------------------
# Networks

CIFAR_DEPTHS = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110}
IMAGENET = {"resnet18": ("basic", [2, 2, 2, 2]),
            "resnet34": ("basic", [3, 4, 6, 3]),
            "resnet50": ("bottleneck", [3, 4, 6, 3])}
DEFAULT_WIDTH = {**{a: 16 for a in CIFAR_DEPTHS}, **{a: 64 for a in IMAGENET}}


def _stage(block, c_in, planes, blocks, stride):
    layers = [block(c_in, planes, stride)]
    c_in = planes * block.expansion
    for _ in range(1, blocks):
        layers.append(block(c_in, planes, 1))
    return nn.Sequential(*layers), c_in


class CifarResNet(nn.Module):
    """He et al.'s CIFAR ResNet: 3 stages of W, 2W, 4W, (depth-2)/6 blocks each."""

    def __init__(self, depth, sb=(), width=16, num_classes=10):
        super().__init__()
        assert (depth - 2) % 6 == 0, depth
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        c = width
        self.layer1, c = _stage(SBBasic if 1 in sb else BasicBlock, c, width, n, 1)
        self.layer2, c = _stage(SBBasic if 2 in sb else BasicBlock, c, 2 * width, n, 2)
        self.layer3, c = _stage(SBBasic if 3 in sb else BasicBlock, c, 4 * width, n, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ImageNetResNet(nn.Module):
    """torchvision's ResNet-18/34/50 layout: W, 2W, 4W, 8W planes."""

    def __init__(self, kind, layers, sb=(), width=64, num_classes=1000):
        super().__init__()
        regular, spatial = (BasicBlock, SBBasic) if kind == "basic" else (Bottleneck, SBBottleneck)
        self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c = width
        self.layer1, c = _stage(spatial if 1 in sb else regular, c, width, layers[0], 1)
        self.layer2, c = _stage(spatial if 2 in sb else regular, c, 2 * width, layers[1], 2)
        self.layer3, c = _stage(spatial if 3 in sb else regular, c, 4 * width, layers[2], 2)
        self.layer4, c = _stage(spatial if 4 in sb else regular, c, 8 * width, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(arch, sb=(), width=None, num_classes=1000):
    """The network (arch, SB stages, Width, num_classes), with torch's default init."""
    if width is None:
        width = DEFAULT_WIDTH[arch]
    sb = tuple(sb)
    if arch in CIFAR_DEPTHS:
        assert all(1 <= s <= 3 for s in sb), sb
        return CifarResNet(CIFAR_DEPTHS[arch], sb, width, num_classes)
    kind, layers = IMAGENET[arch]
    assert all(1 <= s <= 4 for s in sb), sb
    return ImageNetResNet(kind, layers, sb, width, num_classes)


def blocks(model):
    """Every residual block of the model, in forward order."""
    return [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck, SBBasic, SBBottleneck))]


# ---------------------------------------------------------------------------
# Random weights



def last_bn_scale(n):
    """Each block's last BN weight is scaled by this, n the blocks in its stage
    (cf. zero-init-residual): eval-mode BN does not renormalise, so without it
    the residual stream grows along a stage, most in narrow deep nets."""
    return min(0.5, 0.7 / math.sqrt(n))



@torch.no_grad()
def randomize(model, gen):
    """Draw every parameter and buffer from gen, in state_dict order."""
    last = {}
    for stage in model.children():
        if isinstance(stage, nn.Sequential):
            for b in stage:
                last[id(b.last_bn())] = last_bn_scale(len(stage))
    for m in model.modules():
        if isinstance(m, nn.ConvTranspose2d):
            # weight [in, out, kh, kw]; an output pixel sees about in*kh*kw/(sh*sw) taps
            fan_in = m.weight.shape[0] * m.weight.shape[2] * m.weight.shape[3] / (m.stride[0] * m.stride[1])
            m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
        elif isinstance(m, nn.Conv2d):
            fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
            m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=gen)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5, generator=gen)
            if id(m) in last:
                m.weight.mul_(last[id(m)])
            m.bias.normal_(0.0, 0.2, generator=gen)
            m.running_mean.normal_(0.0, 0.2, generator=gen)
            m.running_var.uniform_(0.5, 2.0, generator=gen)
        elif isinstance(m, nn.Linear):
            m.weight.normal_(0.0, 1.0 / math.sqrt(m.in_features), generator=gen)
            m.bias.normal_(0.0, 0.2, generator=gen)


@torch.no_grad()
def round_to(model, dtype):
    """Round every floating parameter and buffer to dtype and back to float32."""
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            t.copy_(t.to(dtype).to(torch.float32))


# ---------------------------------------------------------------------------
# safetensors, written and read by hand

ST_DTYPES = {  # safetensors name -> (torch dtype, bytes per element)
    "F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
    "F64": (torch.float64, 8), "I64": (torch.int64, 8),
}
TORCH_TO_ST = {v[0]: k for k, v in ST_DTYPES.items()}


def tensor_bytes(t):
    """Raw little-endian bytes of a CPU tensor (C order)."""
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16: same bits as int16
    a = t.numpy()
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes(order="C")


def write_safetensors(path, tensors, metadata=None):
    """tensors: ordered (name, tensor) pairs; data follows in that order."""
    header, chunks, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors:
        b = tensor_bytes(t)
        header[name] = {"dtype": TORCH_TO_ST[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in chunks:
            f.write(b)


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
        dt, size = ST_DTYPES[e["dtype"]]
        b, f_ = e["data_offsets"]
        assert b == end, (path, name, "offsets not contiguous")
        count = int(np.prod(e["shape"])) if e["shape"] else 1
        assert f_ - b == count * size, (path, name)
        buf = data[b:f_]
        if dt == torch.bfloat16:
            t = torch.from_numpy(np.frombuffer(buf, dtype="<i2").copy()).view(torch.bfloat16)
        else:
            npdt = {torch.float32: "<f4", torch.float16: "<f2", torch.float64: "<f8", torch.int64: "<i8"}[dt]
            t = torch.from_numpy(np.frombuffer(buf, dtype=npdt).copy())
        out[name] = t.reshape(e["shape"])
        end = f_
    assert end == len(data), (path, "trailing bytes")
    return out, meta


# ---------------------------------------------------------------------------
# Cases

def case(arch, sb, width, num_classes, batch, h, w, dtype="F32"):
    tag = "sb" + "".join(map(str, sb)) if sb else "reg"
    name = f"{arch}_{tag}_w{width}_c{num_classes}_{h}x{w}_b{batch}_{dtype.lower()}"
    return {"name": name, "arch": arch, "sb": list(sb), "width": width, "num_classes": num_classes,
            "batch": batch, "h": h, "w": w, "dtype": dtype}


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
]


def check_sb_sizes():
    """The spatial bottleneck's sizes on the odd examples of the docstring."""
    for s, h, mid, out in [(1, 7, 4, 7), (2, 14, 4, 7), (1, 8, 4, 8), (2, 17, 5, 9), (1, 1, 1, 1), (2, 2, 1, 1)]:
        for blk in (SBBasic(4, 4, s) if s == 1 else SBBasic(2, 4, s), SBBottleneck(16, 4, s)):
            blk.eval()
            seen = {}
            conv_down = blk.conv1 if isinstance(blk, SBBasic) else blk.conv2
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
    for b in blocks(model):
        if b.sb:
            handles.append(b.register_forward_hook(hook))
    return hook, handles


def min_map(model, x):
    """The smallest spatial size of any block output."""
    sizes = []
    hs = [b.register_forward_hook(lambda m, i, o: sizes.append(min(o.shape[2:]))) for b in blocks(model)]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return min(sizes)


def generate(c, gen):
    dtype = ST_DTYPES[c["dtype"]][0]
    model = build(c["arch"], c["sb"], c["width"], c["num_classes"])
    randomize(model, gen)
    round_to(model, dtype)
    model.eval()
    x = torch.randn(c["batch"], 3, c["h"], c["w"], generator=gen, dtype=torch.float32)

    hook, handles = sb_size_hooks(model)
    with torch.no_grad():
        y32 = model(x)
    for h in handles:
        h.remove()
    assert hook.count == sum(b.sb for b in blocks(model)), c["name"]
    with torch.no_grad():
        y64 = model.double()(x.double())
    model.float()
    assert y32.shape == (c["batch"], c["num_classes"])
    err = (y32.double() - y64).abs().max().item()
    scale = max(1.0, y64.abs().max().item())
    assert err <= 1e-4 * scale, (c["name"], "float32 vs float64 logits", err, scale)
    assert torch.isfinite(y64).all()

    sd = model.state_dict()
    tensors = [(k, v if v.dtype == torch.int64 else v.to(dtype)) for k, v in sd.items()]
    meta = {"format": "pt", "arch": c["arch"], "sb": json.dumps(c["sb"]), "width": c["width"],
            "num_classes": c["num_classes"], "torch": torch.__version__}
    wpath = os.path.join(HERE, c["name"] + ".safetensors")
    iopath = os.path.join(HERE, c["name"] + ".io.safetensors")
    write_safetensors(wpath, tensors, meta)
    write_safetensors(iopath, [("input", x), ("logits", y64.float())],
                      {"format": "pt", "name": c["name"], "eval": "true"})

    # self-check: the writer, through an independent reader
    back, bmeta = read_safetensors(wpath)
    assert list(back) == list(sd), c["name"]
    assert bmeta["arch"] == c["arch"]
    for k, v in sd.items():
        b = back[k]
        want = v if v.dtype == torch.int64 else v.to(dtype)
        assert b.dtype == want.dtype and b.shape == want.shape, (k, b.dtype, b.shape, want.dtype, want.shape)
        assert torch.equal(b, want), k
        if v.is_floating_point():  # rounded before the logits: the stored weights are the ones used
            assert torch.equal(b.float(), v), k
    # and the stored weights, loaded into a fresh model, reproduce the logits
    fresh = build(c["arch"], c["sb"], c["width"], c["num_classes"])
    fresh.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in back.items()})
    fresh.eval()
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
    print(f"{'name':44s} {'params':>8s} {'bytes':>9s} {'max|logit|':>10s} {'f32 err':>8s} {'min map':>7s}")
    total = 0
    for c in CASES:
        torch.manual_seed(SEED)
        nparams, size, mx, err, mm = generate(c, gen)
        total += size
        print(f"{c['name']:44s} {nparams:8d} {size:9d} {mx:10.3f} {err:8.1e} {mm:7d}")
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
