"""The PyTorch side of sbconv: the networks sbconv runs, and the file it loads.

Train one of these models as any ``nn.Module``, then save it::

    import sbconv_torch
    model = sbconv_torch.resnet20(sb=[1, 2, 3], num_classes=10)
    # ... train ...
    sbconv_torch.save(model, "resnet20_sb.safetensors")

and run it in Go with ``block.Load("resnet20_sb.safetensors", block.NetSpec{})``:
the file carries the network's description (architecture, spatial-bottleneck
stages, width, classes, rate), so the Go side needs nothing else. The module
needs nothing but PyTorch (and the standard library); the file is
safetensors, readable by the ``safetensors`` package too.

Blocks (``s`` is the block's own stride: 2 at the first block of stages 2 and
up, else 1; every convolution has no bias; BatchNorm eps is 1e-5)

``BasicBlock``
    torchvision's: conv1 3x3 stride s, bn1, ReLU, conv2 3x3, bn2, add the
    shortcut, ReLU.
``Bottleneck``
    torchvision's (v1.5, the stride on the 3x3; expansion 4, width = planes):
    conv1 1x1, conv2 3x3 stride s, conv3 1x1 to 4*planes, a BatchNorm after
    each, ReLU after bn1, bn2 and after the add.
``SBBasic``
    the spatial bottleneck at sampling rate r replacing both 3x3 convolutions
    of a BasicBlock: conv1 Kr x Kr stride r*s padding (Kr-1)//2 (the reduce,
    keeping one pixel in r*r), bn1, ReLU, then conv2, a K x K *transposed*
    convolution stride r padding (K-1)//2 that restores the block's output
    size, bn2, add the shortcut, ReLU.
``SBBottleneck``
    the spatial bottleneck at rate r replacing the middle 3x3 convolution of
    a Bottleneck: conv1 1x1, conv2 Kr x Kr stride r*s padding (Kr-1)//2,
    conv3 K x K transposed stride r padding (K-1)//2 (restoring the size),
    conv4 1x1 to 4*planes; bn1..bn4, ReLU after bn1..bn3 and after the add.

The rate r is 2, 3 or 4 (``rate``, default 2); Kr and K default to the
smallest odd size at least r (3, 3 and 5 for r = 2, 3, 4; ``reduce_kernel``
and ``restore_kernel`` override them, Kr >= 1 and K from r to 2r-1). Rate 2
with Kr = K = 3 is the paper's block. sbconv reads Kr and K from the
weights' shapes and the rate from the file's description.

A block's output size is the shortcut's, ``(H-1)//s + 1`` by ``(W-1)//s + 1``,
so odd sizes work: 7 -> 4 -> 7, a stage entry 14 -> 4 -> 7, 17 -> 5 -> 9 (at
rate 2; 7 -> 3 -> 7 at rate 3). The transposed convolution reaches it through
``output_size`` (PyTorch's way of choosing among the r sizes a stride-r
restore can give). An odd K reaches every size; an even K only some, and
PyTorch refuses the others. The shortcut is
the identity, or, wherever the stride or the channel count changes (CIFAR
networks included), the projection ``downsample.0`` (1x1 conv stride s) +
``downsample.1`` (BatchNorm).

Networks (``ResNet``, or one constructor per architecture)

CIFAR ``resnet20/32/44/56/110`` (He et al. 2016, with projection shortcuts)
    stem: conv1 3x3 stride 1 padding 1 (3 -> W channels) + bn1 + ReLU, *no*
    max pool; three stages ``layer1..3`` of (depth-2)/6 basic blocks with W,
    2W, 4W channels (stride 2 at the first block of layers 2 and 3); global
    average pool; ``fc``. W defaults to 16, classes to 10; made for 32x32.
ImageNet ``resnet18/34`` (basic blocks, 2-2-2-2 / 3-4-6-3) and ``resnet50`` (bottleneck, 3-4-6-3)
    torchvision's: stem conv1 7x7 stride 2 padding 3 + bn1 + ReLU + max pool
    3x3 stride 2 padding 1; four stages ``layer1..4`` with W, 2W, 4W, 8W
    planes (stride 2 at the first block of layers 2-4); global average pool;
    ``fc``. W defaults to 64, classes to 1000; made for 224x224.

``sb`` lists the 1-based stages whose blocks are all spatial bottlenecks
(``[]``: the regular network). Attribute names, and so ``state_dict`` keys,
are torchvision's (``conv1``, ``bn1``, ``layer2.0.conv1``, ...,
``downsample.0``, ``fc``), so a torchvision ResNet-18/34/50's weights load
into the regular network here. Any input size that keeps every map at least
1x1 works, as in PyTorch.
"""

import ctypes
import json
import math
import struct
import sys
from collections.abc import Mapping
from typing import Final, List

import torch
import torch.nn as nn

__version__ = "1.0.0"

#: The version of the network description ``save`` writes into the file's
#: ``__metadata__`` (the ``"sbconv"`` key; its presence marks a complete
#: description).
DESCRIPTION_VERSION = "1"

RATES = (2, 3, 4)  # the sampling rates sbconv runs

CIFAR_DEPTHS = {"resnet20": 20, "resnet32": 32, "resnet44": 44, "resnet56": 56, "resnet110": 110}
IMAGENET = {"resnet18": ("basic", (2, 2, 2, 2)),
            "resnet34": ("basic", (3, 4, 6, 3)),
            "resnet50": ("bottleneck", (3, 4, 6, 3))}
ARCHS = tuple(CIFAR_DEPTHS) + tuple(IMAGENET)


def _check_rate(rate):
    if type(rate) is not int or rate not in RATES:
        raise ValueError(f"rate={rate!r}: sbconv runs spatial bottlenecks at rate "
                         f"{', '.join(map(str, RATES))} only")


def default_kernel(rate):
    """The default kernel size of a spatial bottleneck's reduce and restore at
    rate: the smallest odd size at least rate (3, 3, 5 for 2, 3, 4), which
    restores every size."""
    return rate | 1


def _sb_kernels(rate, reduce_kernel, restore_kernel):
    """Validated (Kr, K) for rate: None takes default_kernel(rate); Kr in
    1..16, K in rate..2*rate-1."""
    _check_rate(rate)
    kr = default_kernel(rate) if reduce_kernel is None else reduce_kernel
    k = default_kernel(rate) if restore_kernel is None else restore_kernel
    if type(kr) is not int or not 1 <= kr <= 16:
        raise ValueError(f"reduce_kernel={kr!r}: want an int in [1, 16]")
    if type(k) is not int or not rate <= k <= 2 * rate - 1:
        raise ValueError(f"restore_kernel={k!r}: want an int in [{rate}, {2 * rate - 1}] at rate {rate}")
    return kr, k


# ---------------------------------------------------------------------------
# Blocks


def conv3x3(c_in, c_out, stride=1):
    """A 3x3 convolution, padding 1, no bias."""
    return nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def conv1x1(c_in, c_out, stride=1):
    """A 1x1 convolution, no bias."""
    return nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False)


def projection(c_in, c_out, stride):
    """The projection shortcut (1x1 conv stride s + BatchNorm), or None where
    the shortcut is the identity (same stride 1, same channels)."""
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(conv1x1(c_in, c_out, stride), nn.BatchNorm2d(c_out))


def _out_size(x: torch.Tensor, s: int) -> List[int]:
    """The block's output size, the shortcut's: (H-1)//s+1 by (W-1)//s+1."""
    return [(x.shape[2] - 1) // s + 1, (x.shape[3] - 1) // s + 1]


class _Residual(nn.Module):
    """What the four blocks share: the shortcut, the add and the last ReLU."""
    last = ""  # the name of the BatchNorm before the add

    def last_bn(self):
        """The BatchNorm before the residual add."""
        return getattr(self, self.last)

    def _add(self, y, x):
        """relu(y + shortcut(x))."""
        if self.downsample is not None:
            x = self.downsample(x)
        return self.relu(y + x)


class BasicBlock(_Residual):
    """torchvision's BasicBlock: two 3x3 convolutions (the first with stride s)."""
    expansion = 1
    sb = False
    last = "bn2"

    def __init__(self, c_in, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(c_in, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = projection(c_in, planes, stride)
        self.stride = stride

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self._add(self.bn2(self.conv2(y)), x)


class Bottleneck(_Residual):
    """torchvision's Bottleneck (v1.5: stride on the 3x3 conv2; width = planes,
    expansion 4)."""
    expansion = 4
    sb = False
    last = "bn3"

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

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self._add(self.bn3(self.conv3(y)), x)


class SBBasic(_Residual):
    """The spatial bottleneck replacing both 3x3 convolutions of a BasicBlock.

    conv1: Conv2d Kr x Kr stride rate*s padding (Kr-1)//2 (the reduce);
    conv2: ConvTranspose2d K x K stride rate padding (K-1)//2 (the restore,
    weight IOHW) with output_size = the shortcut's size. rate: the sampling
    rate, 2, 3 or 4; reduce_kernel (Kr) and restore_kernel (K): None for
    default_kernel(rate).
    """
    expansion = 1
    sb = True
    last = "bn2"

    def __init__(self, c_in, planes, stride=1, rate=2, reduce_kernel=None, restore_kernel=None):
        super().__init__()
        kr, k = _sb_kernels(rate, reduce_kernel, restore_kernel)
        self.conv1 = nn.Conv2d(c_in, planes, kr, stride=rate * stride, padding=(kr - 1) // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.ConvTranspose2d(planes, planes, k, stride=rate, padding=(k - 1) // 2, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = projection(c_in, planes, stride)
        self.stride = stride

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self._add(self.bn2(self.conv2(y, output_size=_out_size(x, self.stride))), x)


class SBBottleneck(_Residual):
    """The spatial bottleneck replacing the middle 3x3 convolution of a Bottleneck.

    conv1 1x1; conv2: Conv2d Kr x Kr stride rate*s padding (Kr-1)//2 (the
    reduce); conv3: ConvTranspose2d K x K stride rate padding (K-1)//2 (the
    restore, weight IOHW) with output_size = the shortcut's size; conv4 1x1
    to 4*planes. rate, reduce_kernel, restore_kernel: as for SBBasic.
    """
    expansion = 4
    sb = True
    last = "bn4"

    def __init__(self, c_in, planes, stride=1, rate=2, reduce_kernel=None, restore_kernel=None):
        super().__init__()
        kr, k = _sb_kernels(rate, reduce_kernel, restore_kernel)
        width = planes
        self.conv1 = conv1x1(c_in, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, kr, stride=rate * stride, padding=(kr - 1) // 2, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.ConvTranspose2d(width, width, k, stride=rate, padding=(k - 1) // 2, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.conv4 = conv1x1(width, planes * self.expansion)
        self.bn4 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = projection(c_in, planes * self.expansion, stride)
        self.stride = stride

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.relu(self.bn3(self.conv3(y, output_size=_out_size(x, self.stride))))
        return self._add(self.bn4(self.conv4(y)), x)


# ---------------------------------------------------------------------------
# Networks


def _positive(name, v):
    if type(v) is not int or v < 1:
        raise ValueError(f"{name}={v!r}: want a positive int")
    return v


class ResNet(nn.Module):
    """One of the eight networks sbconv runs (see the module docstring).

    arch: "resnet20", "resnet32", "resnet44", "resnet56", "resnet110"
    (CIFAR) or "resnet18", "resnet34", "resnet50" (ImageNet); sb: the 1-based
    stages whose blocks are all spatial bottlenecks ([] for the regular
    network); width: channels of stage 1 (later stages double it; None: 16
    for CIFAR, 64 for ImageNet); num_classes: fc outputs (None: 10 for CIFAR,
    1000 for ImageNet); rate: the spatial bottlenecks' sampling rate, 2, 3
    or 4; reduce_kernel, restore_kernel: their Kr and K (None:
    default_kernel(rate)). The description is kept as attributes (arch, sb,
    width, num_classes, rate; and reduce_kernel, restore_kernel, which the
    file's weights carry in their shapes); ``save`` writes it into the file.
    """
    cifar: Final[bool]

    def __init__(self, arch, sb=(), width=None, num_classes=None, rate=2, reduce_kernel=None, restore_kernel=None):
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch={arch!r}: want one of {', '.join(ARCHS)}")
        kr, k = _sb_kernels(rate, reduce_kernel, restore_kernel)
        self.reduce_kernel, self.restore_kernel = kr, k
        self.cifar = arch in CIFAR_DEPTHS
        if self.cifar:
            n = (CIFAR_DEPTHS[arch] - 2) // 6
            kind, layers = "basic", (n, n, n)
        else:
            kind, layers = IMAGENET[arch]
        stages = len(layers)
        sb = list(sb)
        for s in sb:
            if type(s) is not int or not 1 <= s <= stages:
                raise ValueError(f"sb={sb!r}: stage {s!r} is not one of {arch}'s stages 1..{stages}")
        if len(set(sb)) != len(sb):
            raise ValueError(f"sb={sb!r}: a stage is named twice")
        width = _positive("width", (16 if self.cifar else 64) if width is None else width)
        num_classes = _positive("num_classes", (10 if self.cifar else 1000) if num_classes is None else num_classes)
        self.arch, self.sb, self.width, self.num_classes, self.rate = arch, sorted(sb), width, num_classes, rate

        regular, spatial = (BasicBlock, SBBasic) if kind == "basic" else (Bottleneck, SBBottleneck)
        if self.cifar:
            self.conv1 = nn.Conv2d(3, width, 3, stride=1, padding=1, bias=False)
        else:
            self.conv1 = nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        if not self.cifar:
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        c = width
        for i, n in enumerate(layers):
            planes, stride, seq = width << i, 1 if i == 0 else 2, []
            for _ in range(n):
                seq.append(spatial(c, planes, stride, rate, kr, k) if i + 1 in sb else regular(c, planes, stride))
                c, stride = planes * regular.expansion, 1
            setattr(self, f"layer{i + 1}", nn.Sequential(*seq))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(c, num_classes)

    def description(self):
        """The network's description as ``save`` writes it into ``__metadata__``."""
        return {
            "format": "pt",
            "sbconv": DESCRIPTION_VERSION,
            "arch": self.arch,
            "sb": json.dumps(list(self.sb)),
            "width": str(self.width),
            "num_classes": str(self.num_classes),
            "rate": str(self.rate),
            "torch": str(torch.__version__),
        }

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        if not self.cifar:
            x = self.maxpool(x)
        x = self.layer3(self.layer2(self.layer1(x)))
        if not self.cifar:
            x = self.layer4(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _constructor(arch, what):
    def build(sb=(), width=None, num_classes=None, rate=2, reduce_kernel=None, restore_kernel=None):
        return ResNet(arch, sb, width, num_classes, rate, reduce_kernel, restore_kernel)
    build.__name__ = build.__qualname__ = arch
    build.__doc__ = f"{what}: ResNet({arch!r}, sb, width, num_classes, rate, reduce_kernel, restore_kernel)."
    return build


resnet20 = _constructor("resnet20", "CIFAR ResNet-20 (3 stages of 3 basic blocks)")
resnet32 = _constructor("resnet32", "CIFAR ResNet-32 (3 stages of 5 basic blocks)")
resnet44 = _constructor("resnet44", "CIFAR ResNet-44 (3 stages of 7 basic blocks)")
resnet56 = _constructor("resnet56", "CIFAR ResNet-56 (3 stages of 9 basic blocks)")
resnet110 = _constructor("resnet110", "CIFAR ResNet-110 (3 stages of 18 basic blocks)")
resnet18 = _constructor("resnet18", "ImageNet ResNet-18 (basic blocks, 2-2-2-2)")
resnet34 = _constructor("resnet34", "ImageNet ResNet-34 (basic blocks, 3-4-6-3)")
resnet50 = _constructor("resnet50", "ImageNet ResNet-50 (bottleneck blocks, 3-4-6-3)")


def blocks(model):
    """Every residual block of the model, in forward order."""
    return [m for m in model.modules() if isinstance(m, _Residual)]


# ---------------------------------------------------------------------------
# Random weights


def last_bn_scale(n):
    """The factor randomize puts on each block's last BN weight, n the blocks
    in its stage (cf. zero-init-residual): eval-mode BN does not renormalise,
    so without it the residual stream grows along a stage, most in narrow
    deep networks."""
    return min(0.5, 0.7 / math.sqrt(n))


@torch.no_grad()
def randomize(model, generator=None):
    """Random weights and BatchNorm statistics that keep activations O(1).

    For tests and benchmarks (a trained model needs none of this). Draws from
    generator (a torch.Generator; None: the global one) module by module in
    the model's order: conv weights N(0, 2/fan_in) (the transposed conv's
    fan_in is in*kh*kw/(sh*sw), the taps an output pixel sees), BatchNorm
    weight U(0.5, 1.5) (times last_bn_scale for each block's last BN), bias
    N(0, 0.2), running_mean N(0, 0.2), running_var U(0.5, 2.0), fc weight
    N(0, 1/in), bias N(0, 0.2).
    """
    last = {}
    for stage in model.children():
        if isinstance(stage, nn.Sequential):
            for b in stage:
                if isinstance(b, _Residual):
                    last[id(b.last_bn())] = last_bn_scale(len(stage))
    for m in model.modules():
        if isinstance(m, nn.ConvTranspose2d):
            # weight [in, out, kh, kw]
            fan_in = m.weight.shape[0] * m.weight.shape[2] * m.weight.shape[3] / (m.stride[0] * m.stride[1])
            m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
        elif isinstance(m, nn.Conv2d):
            fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
            m.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            m.weight.uniform_(0.5, 1.5, generator=generator)
            if id(m) in last:
                m.weight.mul_(last[id(m)])
            m.bias.normal_(0.0, 0.2, generator=generator)
            m.running_mean.normal_(0.0, 0.2, generator=generator)
            m.running_var.uniform_(0.5, 2.0, generator=generator)
        elif isinstance(m, nn.Linear):
            m.weight.normal_(0.0, 1.0 / math.sqrt(m.in_features), generator=generator)
            m.bias.normal_(0.0, 0.2, generator=generator)
    return model


# ---------------------------------------------------------------------------
# safetensors, written and read with nothing but PyTorch

#: safetensors dtype name -> torch dtype, for every dtype save and load handle.
DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


def _raw(t):
    """The raw bytes of a contiguous CPU tensor, without a copy."""
    n = t.numel() * t.element_size()
    if n == 0:
        return b""
    return (ctypes.c_char * n).from_address(t.data_ptr())


def write_safetensors(path, tensors, metadata=None):
    """Write tensors to path in the safetensors format.

    tensors: a mapping name -> tensor (a state_dict), or a sequence of
    (name, tensor) pairs; the data follows in that order. Each tensor is
    stored as it is (dtype and shape; made contiguous, moved to the CPU):
    F64, F32, F16, BF16, I64, I32, I16, I8, U8 or BOOL. metadata: a mapping
    of strings stored as ``__metadata__`` (values are converted with str).

    Layout: 8-byte little-endian header length N (a multiple of 8), N bytes
    of JSON padded with spaces, then the raw little-endian tensors in C order
    with contiguous ``data_offsets`` [begin, end) relative to the end of the
    header.
    """
    if sys.byteorder != "little":
        raise RuntimeError("write_safetensors: this host is big-endian; safetensors stores little-endian data")
    items = list(tensors.items()) if isinstance(tensors, Mapping) else list(tensors)
    header, data, off = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for i, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) == 2):
            raise TypeError(f"write_safetensors: item {i} is {type(item).__name__}, "
                            "want a (name, tensor) pair (or pass a state_dict)")
        name, t = item
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"write_safetensors: tensor name {name!r}: want a non-empty string, not __metadata__")
        if name in header:
            raise ValueError(f"write_safetensors: tensor name {name!r} appears twice")
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"write_safetensors: {name!r} is a {type(t).__name__}, want a torch.Tensor")
        if t.dtype not in _DTYPE_NAMES:
            raise ValueError(f"write_safetensors: {name!r} has dtype {t.dtype}, want one of "
                             + ", ".join(str(d) for d in DTYPES.values()))
        t = t.detach().to("cpu").contiguous()
        n = t.numel() * t.element_size()
        header[name] = {"dtype": _DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + n]}
        data.append(t)
        off += n
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for t in data:
            f.write(_raw(t))


def read_safetensors(path):
    """Read a safetensors file: returns (dict name -> tensor in file order,
    metadata dict). Checks the layout (tensors tile the data exactly) and
    raises ValueError naming what is wrong."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    # A zip archive is named as such only when the file cannot be
    # safetensors: a header of 19280 bytes (0x4B50) starts "PK" too.
    if raw[:4] == b"PK\x03\x04" and not (2 <= n <= len(raw) - 8 and raw[8:9] == b"{"):
        raise ValueError(f"{path}: a zip file (a torch.save checkpoint?), not safetensors")
    if n > len(raw) - 8:
        raise ValueError(f"{path}: header length {n} exceeds the file's {len(raw) - 8} bytes after it")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    data = memoryview(raw)[8 + n:]
    meta = header.pop("__metadata__", None) or {}
    out, end = {}, 0
    for name, e in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        if e["dtype"] not in DTYPES:
            raise ValueError(f"{path}: {name!r} has dtype {e['dtype']}, want one of {', '.join(DTYPES)}")
        dt = DTYPES[e["dtype"]]
        b, f_ = e["data_offsets"]
        count = math.prod(e["shape"])
        size = torch.empty((), dtype=dt).element_size()
        if b != end or f_ - b != count * size:
            raise ValueError(f"{path}: {name!r}: data_offsets {[b, f_]} do not hold shape {e['shape']} "
                             f"{e['dtype']} right after the previous tensor (at {end})")
        if count == 0:
            t = torch.empty(e["shape"], dtype=dt)
        else:
            t = torch.frombuffer(bytearray(data[b:f_]), dtype=dt).reshape(e["shape"])
        out[name] = t
        end = f_
    if end != len(data):
        raise ValueError(f"{path}: {len(data) - end} bytes after the last tensor")
    return {k: out[k] for k in header}, meta


def _unwrap(model):
    """The model inside DataParallel / DistributedDataParallel wrappers."""
    while isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        model = model.module
    return model


def save(model, path, dtype=None):
    """Write model's state_dict to path as safetensors, with the network's
    description in ``__metadata__`` so that sbconv's ``block.Load(path,
    block.NetSpec{})`` builds it without being told.

    model: a ResNet of this module (DataParallel / DistributedDataParallel
    wrappers are looked through, so the keys carry no ``module.`` prefix).
    dtype: None keeps every tensor's dtype; torch.float16 or torch.bfloat16
    (or float32) converts the floating tensors (``num_batches_tracked`` stays
    I64). Metadata, all strings: format "pt", sbconv (the description's
    version), arch, sb (a JSON list), width, num_classes, rate, torch.
    """
    inner = _unwrap(model)
    if not isinstance(inner, ResNet):
        raise TypeError(f"save: model is a {type(inner).__name__}, want a sbconv_torch.ResNet "
                        "(use write_safetensors for a state_dict without a description)")
    if dtype not in (None, torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"save: dtype={dtype}: want None, torch.float32, torch.float16 or torch.bfloat16")
    sd = inner.state_dict()
    if dtype is not None:
        sd = {k: v.to(dtype) if v.is_floating_point() else v for k, v in sd.items()}
    write_safetensors(path, sd, inner.description())


def load(path):
    """The ResNet a file written by ``save`` holds, in eval mode, float32.

    Raises ValueError when the file carries no description (``sbconv`` in
    ``__metadata__``) or it does not name a network of this module, and
    RuntimeError (from load_state_dict) when the tensors do not fit it. The
    spatial bottlenecks' kernel sizes are read from the first one's weights,
    as sbconv reads them.
    """
    sd, meta = read_safetensors(path)
    if "sbconv" not in meta:
        raise ValueError(f"{path}: no network description in __metadata__ (written by save?)")
    if meta["sbconv"] != DESCRIPTION_VERSION:
        raise ValueError(f"{path}: description version {meta['sbconv']!r}, this module reads {DESCRIPTION_VERSION!r}")
    try:
        arch, sb = meta["arch"], json.loads(meta["sb"])
        kr = k = None
        if sb and arch in ARCHS:
            reduce, restore = ("conv1", "conv2") if arch in CIFAR_DEPTHS or IMAGENET[arch][0] == "basic" \
                else ("conv2", "conv3")
            first = f"layer{min(sb)}.0."
            if first + reduce + ".weight" in sd and first + restore + ".weight" in sd:
                kr = sd[first + reduce + ".weight"].shape[-1]
                k = sd[first + restore + ".weight"].shape[-1]
        model = ResNet(arch, sb, int(meta["width"]), int(meta["num_classes"]),
                       int(meta.get("rate", "2")), kr, k)
    except (KeyError, json.JSONDecodeError, TypeError) as e:
        raise ValueError(f"{path}: incomplete network description {meta}: {e}") from None
    model.load_state_dict(sd, strict=True)
    return model.eval()
