"""Tests of sbconv_torch, and end to end: PyTorch model -> save -> Go block.Load -> Forward.

Run from the repository root with PyTorch (Debian's python3-torch) and Go:

    /usr/bin/python3 -m unittest discover -s python -v

The Go side is internal/cmd/sbforward, built once into a temporary directory.
Every comparison is within 1e-4 of the largest |logit| PyTorch computes.
"""

import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import unittest
import zipfile

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import sbconv_torch  # noqa: E402

TOL = 1e-4  # of the largest |logit|
_tmp = None
SBFORWARD = None


def setUpModule():
    global _tmp, SBFORWARD
    torch.set_num_threads(min(2, torch.get_num_threads()))
    _tmp = tempfile.mkdtemp(prefix="sbconv_torch_test_")
    SBFORWARD = os.path.join(_tmp, "sbforward")
    subprocess.run(["go", "build", "-o", SBFORWARD, "./internal/cmd/sbforward"], cwd=REPO, check=True)


def tearDownModule():
    shutil.rmtree(_tmp, ignore_errors=True)


def random_model(arch, sb=(), width=None, num_classes=None, seed=0, rate=2, reduce_kernel=None, restore_kernel=None):
    """A model with random weights and random BatchNorm statistics, in eval mode."""
    model = sbconv_torch.ResNet(arch, sb, width, num_classes, rate, reduce_kernel, restore_kernel)
    return sbconv_torch.randomize(model, torch.Generator().manual_seed(seed)).eval()


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def spec_flags(model):
    """The sbforward flags naming model's network explicitly."""
    return ["-arch", model.arch, "-sb", ",".join(map(str, model.sb)), "-width", str(model.width),
            "-classes", str(model.num_classes), "-rate", str(model.rate)]


class GoRun:
    """One sbforward run: returncode, stderr and the logits (or None)."""

    def __init__(self, model_path, x, flags=()):
        fd, inp = tempfile.mkstemp(suffix=".safetensors", dir=_tmp)
        os.close(fd)
        out = inp.replace(".safetensors", ".out.safetensors")
        sbconv_torch.write_safetensors(inp, {"input": x})
        r = subprocess.run([SBFORWARD, *flags, model_path, inp, out], capture_output=True, text=True)
        self.returncode, self.stderr, self.logits = r.returncode, r.stderr, None
        if r.returncode == 0:
            self.logits = sbconv_torch.read_safetensors(out)[0]["logits"]
        for p in (inp, out):
            if os.path.exists(p):
                os.remove(p)


class Case(unittest.TestCase):
    def path(self, name):
        return os.path.join(_tmp, f"{self.id().rsplit('.', 1)[-1]}_{name}.safetensors")

    def assertMatches(self, model, path, x, flags=(), what=""):
        """sbforward on path gives model's logits for x."""
        with torch.no_grad():
            want = model(x)
        run = GoRun(path, x, flags)
        self.assertEqual(run.returncode, 0, f"{what}: sbforward failed: {run.stderr}")
        self.assertEqual(tuple(run.logits.shape), tuple(want.shape), what)
        err = (run.logits - want).abs().max().item()
        scale = want.abs().max().item()
        self.assertTrue(torch.isfinite(want).all() and scale > 0, what)
        self.assertLessEqual(err, TOL * scale, f"{what}: |Go - PyTorch| = {err:g}, max |logit| {scale:g}")
        return err / scale

    def assertGoFails(self, path, x, flags, *mentions):
        """sbforward on path exits 1 (an error, not a panic) naming each of mentions."""
        run = GoRun(path, x, flags)
        self.assertEqual(run.returncode, 1, f"want an error, got status {run.returncode}: {run.stderr}")
        self.assertNotIn("panic", run.stderr)
        for m in mentions:
            self.assertIn(m, run.stderr)
        return run.stderr


# Networks against Go: (arch, SB, width, classes, dtype, batch, h, w). CIFAR
# and ImageNet, regular, all-SB and mixed, odd and narrow sizes, default and
# non-default widths (channels that are not multiples of 8 too), F16, BF16.
CASES = [
    ("resnet20", [], None, 10, torch.float32, 2, 32, 32),
    ("resnet20", [1, 2, 3], 8, 10, torch.float32, 1, 33, 31),
    ("resnet32", [2], 6, 7, torch.float16, 2, 17, 19),
    ("resnet44", [1, 3], 4, 10, torch.bfloat16, 1, 15, 9),
    ("resnet56", [1, 2, 3], 5, 3, torch.float32, 1, 1, 1),
    ("resnet110", [], 4, 10, torch.float32, 1, 3, 5),
    ("resnet18", [], 8, 1000, torch.float32, 2, 64, 64),
    ("resnet18", [1, 2, 3, 4], 12, 10, torch.bfloat16, 1, 57, 43),
    ("resnet18", [2, 4], 4, 5, torch.float32, 1, 2, 2),
    ("resnet34", [1, 2, 3, 4], 4, 10, torch.float16, 1, 29, 30),
    ("resnet50", [], 4, 10, torch.float32, 1, 33, 47),
    ("resnet50", [1, 3], 6, 7, torch.float32, 2, 40, 39),
    ("resnet50", [1, 2, 3, 4], 4, 10, torch.bfloat16, 1, 17, 17),
]


class TestAgainstGo(Case):
    def test_networks_match(self):
        gen = torch.Generator().manual_seed(17)
        for i, (arch, sb, width, classes, dtype, batch, h, w) in enumerate(CASES):
            what = f"{arch} sb={sb} width={width} classes={classes} {dtype} {batch}x3x{h}x{w}"
            with self.subTest(what):
                model = random_model(arch, sb, width, classes, seed=i)
                path = self.path(str(i))
                sbconv_torch.save(model, path, dtype=dtype)
                if dtype != torch.float32:  # compare with the weights the file holds
                    model = sbconv_torch.load(path)
                x = torch.randn(batch, 3, h, w, generator=gen)
                self.assertMatches(model, path, x, spec_flags(model), what)

    def test_zero_spec_takes_the_network_from_the_file(self):
        # The README's Go line: block.Load(path, block.NetSpec{}).
        for arch, sb, width in [("resnet32", [1, 3], 6), ("resnet50", [2], 4), ("resnet18", [], 16)]:
            with self.subTest(arch=arch, sb=sb):
                model = random_model(arch, sb, width, 9)
                path = self.path(arch)
                sbconv_torch.save(model, path)
                x = torch.randn(1, 3, 21, 18, generator=torch.Generator().manual_seed(1))
                self.assertMatches(model, path, x, (), f"{arch} sb={sb}, zero NetSpec")

    def test_narrow_inputs(self):
        # Every size from 1 to 8 pixels on each side: PyTorch accepts them all.
        for arch, sb in [("resnet20", []), ("resnet20", [1, 2, 3]), ("resnet18", []), ("resnet50", [1, 2, 3, 4])]:
            model = random_model(arch, sb, 4, 3)
            path = self.path(arch + "".join(map(str, sb)))
            sbconv_torch.save(model, path)
            gen = torch.Generator().manual_seed(2)
            for h, w in [(1, 1), (1, 8), (8, 1), (2, 2), (2, 7), (3, 3), (5, 2), (4, 9), (7, 7), (6, 5)]:
                with self.subTest(arch=arch, sb=sb, h=h, w=w):
                    x = torch.randn(1, 3, h, w, generator=gen)
                    self.assertMatches(model, path, x, spec_flags(model), f"{arch} sb={sb} {h}x{w}")


# Networks at rates 3 and 4 against Go: (arch, SB, width, classes, dtype,
# batch, h, w, rate, Kr, K); None takes the default kernel (3 at rate 3, 5
# at rate 4). Odd sizes where the restore's output_size matters; even
# restores at sizes they reach.
RATE_CASES = [
    ("resnet20", [1, 2, 3], 6, 10, torch.float32, 2, 33, 31, 3, None, None),
    ("resnet20", [2], 5, 7, torch.float16, 1, 17, 19, 4, None, None),
    ("resnet32", [1, 3], 4, 10, torch.float32, 1, 1, 2, 4, None, None),
    ("resnet18", [1, 2, 3, 4], 4, 10, torch.float32, 1, 65, 57, 3, None, None),
    ("resnet18", [2, 4], 6, 5, torch.bfloat16, 2, 45, 37, 4, None, None),
    ("resnet34", [1, 2, 3, 4], 4, 10, torch.float32, 1, 29, 30, 4, 3, 7),
    ("resnet50", [1, 2, 3, 4], 4, 10, torch.float32, 1, 49, 41, 3, 5, 5),
    ("resnet50", [2, 3], 4, 7, torch.float32, 1, 33, 35, 4, None, None),
    ("resnet20", [1], 4, 3, torch.float32, 1, 8, 9, 3, 3, 4),  # (8-1) % 3 and (9-1) % 3 != 0
]


class TestRatesAgainstGo(Case):
    def test_rate_networks_match(self):
        gen = torch.Generator().manual_seed(23)
        for i, (arch, sb, width, classes, dtype, batch, h, w, rate, kr, k) in enumerate(RATE_CASES):
            what = f"{arch} sb={sb} rate={rate} Kr={kr} K={k} width={width} {dtype} {batch}x3x{h}x{w}"
            with self.subTest(what):
                model = random_model(arch, sb, width, classes, seed=i, rate=rate, reduce_kernel=kr, restore_kernel=k)
                path = self.path(f"rate{i}")
                sbconv_torch.save(model, path, dtype=dtype)
                if dtype != torch.float32:
                    model = sbconv_torch.load(path)
                    self.assertEqual((model.rate, model.reduce_kernel, model.restore_kernel),
                                     (rate, kr or rate | 1, k or rate | 1))
                x = torch.randn(batch, 3, h, w, generator=gen)
                self.assertMatches(model, path, x, (), what + ", zero NetSpec")
                self.assertMatches(model, path, x, spec_flags(model), what)

    def test_wrong_rate_spec(self):
        model = random_model("resnet20", [1, 2, 3], 4, 10, rate=3)
        path = self.path("rate3")
        sbconv_torch.save(model, path)
        x = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(3))
        for rate in ["2", "4"]:
            with self.subTest(rate=rate):
                self.assertGoFails(path, x, ["-rate", rate], f"NetSpec.Rate = {rate} but the file describes Rate 3")
        self.assertGoFails(path, x, ["-rate", "5"], "5")
        # A rate-4 file whose restores are 5x5 under a spec of rate 2 names
        # the description and, without one, the kernel size.
        model4 = random_model("resnet20", [2], 4, 10, rate=4)
        path4 = self.path("rate4")
        sbconv_torch.save(model4, path4)
        self.assertGoFails(path4, x, ["-rate", "2"], "NetSpec.Rate = 2 but the file describes Rate 4")
        plain = self.path("rate4plain")
        sbconv_torch.write_safetensors(plain, model4.state_dict())
        self.assertGoFails(plain, x, ["-arch", "resnet20", "-sb", "2", "-width", "4"],
                           '"layer2.0.conv2.weight"', "kernel size 5 must be in [2, 3] at rate 2")
        self.assertMatches(model4, plain, x, ["-arch", "resnet20", "-sb", "2", "-width", "4", "-rate", "4"])

    def test_even_restore_size_refused(self):
        # K = 4 at rate 3 restores a 3x3 map to 8..10 pixels only: 7x7 is an
        # error in PyTorch and in Go alike.
        model = random_model("resnet20", [1], 4, 3, rate=3, restore_kernel=4)
        path = self.path("even")
        sbconv_torch.save(model, path)
        x = torch.randn(1, 3, 7, 7)
        with self.assertRaises(ValueError):
            model(x)
        self.assertGoFails(path, x, [], "layer1.0.conv2", "not the shortcut's 7x7")


class TestGoRefuses(Case):
    """Files and specs that do not describe the same network are errors."""

    @classmethod
    def setUpClass(cls):
        cls.model = random_model("resnet20", [1, 2, 3], 4, 10)
        cls.x = torch.randn(1, 3, 12, 12, generator=torch.Generator().manual_seed(3))

    def test_good_file_loads(self):
        # the other half of every check below: the same file and spec load
        path = self.path("good")
        sbconv_torch.save(self.model, path)
        self.assertMatches(self.model, path, self.x, spec_flags(self.model))

    def test_wrong_sb_spec(self):
        # A regular block and its spatial bottleneck have the same keys and
        # shapes: only the description tells them apart.
        path = self.path("sb")
        sbconv_torch.save(self.model, path)
        for sb in ["", "1,2", "2"]:
            with self.subTest(sb=sb):
                self.assertGoFails(path, self.x, ["-arch", "resnet20", "-sb", sb, "-width", "4"], "SB", "[1 2 3]")

    def test_wrong_arch_spec(self):
        path = self.path("arch")
        sbconv_torch.save(random_model("resnet18", [], 4, 10), path)
        self.assertGoFails(path, self.x, ["-arch", "resnet34", "-width", "4"], '"resnet34"', '"resnet18"')
        self.assertGoFails(path, self.x, ["-width", "8"], "Width", "8", "4")

    def test_prefixed_keys(self):
        # DataParallel's state_dict: every key starts with "module.".
        path = self.path("prefix")
        sd = {"module." + k: v for k, v in self.model.state_dict().items()}
        sbconv_torch.write_safetensors(path, sd, self.model.description())
        for flags in [spec_flags(self.model), []]:
            with self.subTest(flags=flags):
                self.assertGoFails(path, self.x, flags, '"conv1.weight"', '"module.conv1.weight"', 'prefix "module."')

    def test_missing_key(self):
        path = self.path("missing")
        sd = self.model.state_dict()
        del sd["layer2.0.downsample.0.weight"]
        sbconv_torch.write_safetensors(path, sd, self.model.description())
        self.assertGoFails(path, self.x, spec_flags(self.model), "layer2.0.downsample.0.weight")

    def test_torch_save_checkpoint(self):
        path = self.path("checkpoint").replace(".safetensors", ".pt")
        torch.save(self.model.state_dict(), path)
        self.assertTrue(zipfile.is_zipfile(path))
        for flags in [spec_flags(self.model), []]:
            with self.subTest(flags=flags):
                self.assertGoFails(path, self.x, flags, "torch.save", "sbconv_torch")

    def test_bad_input(self):
        path = self.path("input")
        sbconv_torch.save(self.model, path)
        self.assertGoFails(path, torch.randn(1, 4, 8, 8), spec_flags(self.model), "input")


class TestModule(Case):
    """sbconv_torch on its own."""

    def test_torchvision_parameter_counts(self):
        # torchvision's ResNet-18/34/50 (1000 classes) have exactly these many parameters.
        for arch, n in [("resnet18", 11689512), ("resnet34", 21797672), ("resnet50", 25557032)]:
            model = sbconv_torch.ResNet(arch)
            self.assertEqual(sum(p.numel() for p in model.parameters()), n, arch)

    def test_shapes(self):
        # CIFAR: 3x3 stem, no max pool; each stage's output size; SB blocks
        # give the shortcut's size at odd sizes.
        for arch, sb, size, sizes in [
            ("resnet20", [], 32, [32, 16, 8]), ("resnet20", [1, 2, 3], 33, [33, 17, 9]),
            ("resnet18", [], 224, [56, 28, 14, 7]), ("resnet50", [1, 2, 3, 4], 97, [25, 13, 7, 4]),
        ]:
            model = sbconv_torch.ResNet(arch, sb, width=4, num_classes=3).eval()
            seen = []
            for i in range(len(sizes)):
                getattr(model, f"layer{i + 1}").register_forward_hook(lambda m, a, o: seen.append(o.shape[2]))
            with torch.no_grad():
                y = model(torch.randn(1, 3, size, size))
            self.assertEqual(seen, sizes, (arch, sb))
            self.assertEqual(tuple(y.shape), (1, 3))
        cifar = sbconv_torch.resnet20()
        self.assertEqual(cifar.conv1.kernel_size, (3, 3))
        self.assertFalse(hasattr(cifar, "maxpool") or hasattr(cifar, "layer4"))
        self.assertIsNotNone(cifar.layer2[0].downsample)  # projection where channels change
        self.assertIsNone(cifar.layer1[0].downsample)
        self.assertEqual((cifar.width, cifar.num_classes), (16, 10))
        self.assertEqual(sbconv_torch.resnet50().fc.out_features, 1000)

    def test_constructors(self):
        for arch in sbconv_torch.ARCHS:
            a = getattr(sbconv_torch, arch)(sb=[2], width=4, num_classes=3)
            b = sbconv_torch.ResNet(arch, [2], 4, 3)
            self.assertEqual(a.description(), b.description())
            self.assertEqual({k: v.shape for k, v in a.state_dict().items()},
                             {k: v.shape for k, v in b.state_dict().items()})
            self.assertIsInstance(a.layer2[0], sbconv_torch.SBBottleneck if arch == "resnet50" else sbconv_torch.SBBasic)
            self.assertNotIsInstance(a.layer1[0], (sbconv_torch.SBBasic, sbconv_torch.SBBottleneck))

    def test_bad_arguments(self):
        for kwargs, word in [
            (dict(arch="resnet19"), "resnet19"), (dict(arch="resnet20", rate=5), "rate"),
            (dict(arch="resnet20", rate=1), "rate"), (dict(arch="resnet20", rate=3.0), "rate"),
            (dict(arch="resnet20", rate=3, restore_kernel=6), "restore_kernel=6"),
            (dict(arch="resnet20", rate=4, restore_kernel=3), "[4, 7]"),
            (dict(arch="resnet20", reduce_kernel=0), "reduce_kernel=0"), (dict(arch="resnet20", sb=[4]), "4"),
            (dict(arch="resnet18", sb=[0]), "0"), (dict(arch="resnet18", sb=[1, 1]), "twice"),
            (dict(arch="resnet18", width=0), "width"), (dict(arch="resnet18", num_classes=-1), "num_classes"),
            (dict(arch="resnet18", width=4.0), "width"), (dict(arch="resnet18", sb=[True]), "True"),
        ]:
            with self.subTest(**kwargs):
                with self.assertRaisesRegex(ValueError, re.escape(word)):
                    sbconv_torch.ResNet(**kwargs)
        with self.assertRaisesRegex(ValueError, "rate"):
            sbconv_torch.SBBasic(4, 4, 1, rate=5)
        with self.assertRaisesRegex(ValueError, "rate"):
            sbconv_torch.SBBottleneck(16, 4, 1, rate=1)

    def test_rates(self):
        # rate r: the reduce is Kr x Kr stride r*s padding (Kr-1)//2, the
        # restore K x K stride r padding (K-1)//2; the defaults are 3, 3, 5.
        for rate, kr, k in [(2, 3, 3), (3, 3, 3), (4, 5, 5)]:
            self.assertEqual(sbconv_torch.default_kernel(rate), k)
            b = sbconv_torch.SBBasic(4, 4, 2, rate=rate)
            self.assertEqual((b.conv1.kernel_size, b.conv1.stride, b.conv1.padding),
                             ((kr, kr), (2 * rate, 2 * rate), ((kr - 1) // 2,) * 2))
            self.assertEqual((b.conv2.kernel_size, b.conv2.stride, b.conv2.padding),
                             ((k, k), (rate, rate), ((k - 1) // 2,) * 2))
            bb = sbconv_torch.SBBottleneck(16, 4, 1, rate=rate, reduce_kernel=1, restore_kernel=2 * rate - 1)
            self.assertEqual((bb.conv2.kernel_size, bb.conv2.stride, bb.conv3.kernel_size, bb.conv3.stride),
                             ((1, 1), (rate, rate), (2 * rate - 1,) * 2, (rate, rate)))
            # Every size restores to the shortcut's with an odd K.
            for s in (1, 2):
                for h in range(1, 20):
                    blk = sbconv_torch.SBBasic(4, 4, s, rate=rate).eval()
                    with torch.no_grad():
                        y = blk(torch.randn(1, 4, h, h + 2))
                    self.assertEqual(tuple(y.shape[2:]), ((h - 1) // s + 1, (h + 1) // s + 1), (rate, s, h))
        model = random_model("resnet18", [1, 3], 4, 5, rate=4, reduce_kernel=3)
        self.assertEqual(model.layer1[0].conv1.kernel_size, (3, 3))
        self.assertEqual(model.layer3[1].conv2.kernel_size, (5, 5))
        self.assertEqual(model.layer2[0].conv1.kernel_size, (3, 3))  # regular blocks stay 3x3
        self.assertEqual(model.description()["rate"], "4")
        path = self.path("r4")
        sbconv_torch.save(model, path)
        back = sbconv_torch.load(path)
        self.assertEqual((back.rate, back.reduce_kernel, back.restore_kernel), (4, 3, 5))
        x = torch.randn(1, 3, 41, 39)
        with torch.no_grad():
            self.assertTrue(torch.equal(back(x), model(x)))

    def test_description(self):
        path = self.path("meta")
        model = random_model("resnet34", [4, 2], 8, 12)
        sbconv_torch.save(model, path)
        _, meta = sbconv_torch.read_safetensors(path)
        self.assertEqual(meta, {"format": "pt", "sbconv": "1", "arch": "resnet34", "sb": "[2, 4]",
                                "width": "8", "num_classes": "12", "rate": "2", "torch": torch.__version__})
        sbconv_torch.save(random_model("resnet20"), path)
        self.assertEqual(sbconv_torch.read_safetensors(path)[1]["sb"], "[]")

    def test_save_load_round_trip(self):
        x = torch.randn(2, 3, 19, 23)
        for dtype in [None, torch.float16, torch.bfloat16]:
            with self.subTest(dtype=dtype):
                model = random_model("resnet50", [1, 4], 4, 6)
                path = self.path(str(dtype))
                sbconv_torch.save(model, path, dtype=dtype)
                sd, _ = sbconv_torch.read_safetensors(path)
                self.assertEqual(list(sd), list(model.state_dict()))
                for k, v in model.state_dict().items():
                    want = v.to(dtype) if dtype is not None and v.is_floating_point() else v
                    self.assertEqual(sd[k].dtype, want.dtype, k)
                    self.assertTrue(torch.equal(sd[k], want), k)
                back = sbconv_torch.load(path)
                self.assertFalse(back.training)
                if dtype is None:
                    with torch.no_grad():
                        self.assertTrue(torch.equal(back(x), model(x)))

    def test_save_looks_through_data_parallel(self):
        model = random_model("resnet20", [1], 4, 10)
        path = self.path("dp")
        sbconv_torch.save(nn.DataParallel(model), path)
        sd, _ = sbconv_torch.read_safetensors(path)
        self.assertEqual(list(sd), list(model.state_dict()))

    def test_save_refuses(self):
        with self.assertRaisesRegex(TypeError, "Sequential"):
            sbconv_torch.save(nn.Sequential(nn.Linear(2, 2)), self.path("seq"))
        with self.assertRaisesRegex(ValueError, "dtype"):
            sbconv_torch.save(sbconv_torch.resnet20(width=4), self.path("f64"), dtype=torch.float64)
        path = self.path("nodesc")
        sbconv_torch.write_safetensors(path, sbconv_torch.resnet20(width=4).state_dict())
        with self.assertRaisesRegex(ValueError, "description"):
            sbconv_torch.load(path)

    def test_write_safetensors(self):
        t = {
            "a": torch.arange(6, dtype=torch.float32).reshape(2, 3).t(),  # not contiguous
            "b": torch.tensor([1.5, -2.25], dtype=torch.bfloat16),
            "c": torch.tensor(7, dtype=torch.int64),  # shape []
            "d": torch.zeros(0, 4, dtype=torch.float16),
            "e": torch.tensor([True, False]),
        }
        p1, p2 = self.path("dict"), self.path("pairs")
        sbconv_torch.write_safetensors(p1, t, {"k": 1})
        sbconv_torch.write_safetensors(p2, list(t.items()), {"k": "1"})
        raw = read_bytes(p1)
        self.assertEqual(raw, read_bytes(p2))
        (n,) = struct.unpack("<Q", raw[:8])
        self.assertEqual(n % 8, 0)
        header = json.loads(raw[8:8 + n])
        self.assertEqual(header["__metadata__"], {"k": "1"})
        self.assertEqual(header["a"], {"dtype": "F32", "shape": [3, 2], "data_offsets": [0, 24]})
        self.assertEqual(raw[8 + n:8 + n + 24], struct.pack("<6f", 0, 3, 1, 4, 2, 5))
        self.assertEqual(header["b"]["dtype"], "BF16")
        self.assertEqual(raw[8 + n + 24:8 + n + 28], bytes([0xC0, 0x3F, 0x10, 0xC0]))  # 1.5, -2.25
        self.assertEqual(header["c"], {"dtype": "I64", "shape": [], "data_offsets": [28, 36]})
        self.assertEqual(header["d"], {"dtype": "F16", "shape": [0, 4], "data_offsets": [36, 36]})
        self.assertEqual(len(raw), 8 + n + 38)
        back, meta = sbconv_torch.read_safetensors(p1)
        self.assertEqual(meta, {"k": "1"})
        for k, v in t.items():
            self.assertTrue(torch.equal(back[k], v), k)
        for bad, err in [([("a",)], TypeError), ([("x", [1.0])], TypeError), ([("", torch.ones(1))], ValueError),
                         ([("x", torch.ones(1)), ("x", torch.ones(1))], ValueError),
                         ([("x", torch.ones(1, dtype=torch.complex64))], ValueError)]:
            with self.subTest(bad=bad), self.assertRaises(err):
                sbconv_torch.write_safetensors(self.path("bad"), bad)

    def test_read_refuses_a_checkpoint(self):
        buf = io.BytesIO()
        torch.save({"w": torch.ones(2)}, buf)
        path = self.path("ckpt")
        with open(path, "wb") as f:
            f.write(buf.getvalue())
        with self.assertRaisesRegex(ValueError, "torch.save"):
            sbconv_torch.read_safetensors(path)

    def test_read_a_header_that_starts_like_a_zip(self):
        # A header of 0x4B50 bytes: the file's first two bytes are "PK".
        path = self.path("pk")
        sbconv_torch.write_safetensors(path, {"w": torch.ones(3)}, {"pad": ""})
        raw = read_bytes(path)
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        header["__metadata__"]["pad"] = "x" * (0x4B50 - n)
        h = json.dumps(header, separators=(",", ":")).encode()
        h += b" " * (0x4B50 - len(h))
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(h)) + h + raw[8 + n:])
        self.assertEqual(read_bytes(path)[:2], b"PK")
        back, meta = sbconv_torch.read_safetensors(path)
        self.assertTrue(torch.equal(back["w"], torch.ones(3)))
        self.assertEqual(len(meta["pad"]), 0x4B50 - n)

    def test_golden_files(self):
        # testdata/block, which go test checks Go against, is this module's:
        # each file loads by its description and gives the stored logits.
        golden = os.path.join(REPO, "testdata", "block")
        with open(os.path.join(golden, "cases.json")) as f:
            cases = json.load(f)
        self.assertGreater(len(cases), 0)
        for c in cases:
            with self.subTest(c["name"]):
                model = sbconv_torch.load(os.path.join(golden, c["name"] + ".safetensors"))
                self.assertEqual((model.arch, model.sb, model.width, model.num_classes, model.rate),
                                 (c["arch"], c["sb"], c["width"], c["num_classes"], c.get("rate", 2)))
                io_data, _ = sbconv_torch.read_safetensors(os.path.join(golden, c["name"] + ".io.safetensors"))
                with torch.no_grad():
                    got = model.double()(io_data["input"].double())
                want = io_data["logits"].double()
                self.assertLessEqual((got - want).abs().max().item(), 1e-6 * want.abs().max().item())

    def test_scriptable(self):
        model = random_model("resnet18", [2, 3], 4, 5)
        x = torch.randn(1, 3, 37, 29)
        with torch.no_grad():
            self.assertTrue(torch.equal(torch.jit.script(model)(x), model(x)))


def readme_section(title):
    """The README's section (a #, ## or ### heading outside code blocks) named
    title, up to the next heading of its level or above."""
    with open(os.path.join(REPO, "README.md")) as f:
        lines = f.read().splitlines(keepends=True)
    level, out, fence = None, [], False
    for line in lines:
        if line.startswith("```"):
            fence = not fence
        m = None if fence else re.match(r"(#+) (.*?)\s*$", line)
        if level is None:
            if m and m.group(2) == title:
                level = len(m.group(1))
        elif m and len(m.group(1)) <= level:
            break
        else:
            out.append(line)
    if level is None:
        raise AssertionError(f"README.md has no section {title!r}")
    return "".join(out)


class TestReadme(Case):
    def test_train_in_pytorch_deploy_in_go(self):
        section = readme_section("Train in PyTorch, deploy in Go")
        blocks = dict(re.findall(r"^```(python|go)\n(.*?)^```", section, re.M | re.S))
        py, go = blocks.get("python"), blocks.get("go")
        self.assertIsNotNone(py, "no ```python block")
        self.assertIsNotNone(go, "no ```go block")
        self.assertLessEqual(len(py.strip().splitlines()), 5, py)
        self.assertLessEqual(len(go.strip().splitlines()), 5, go)
        self.assertIn("block.NetSpec{}", go)
        # Run the Python block as it is, in a directory of its own.
        cwd = os.getcwd()
        work = tempfile.mkdtemp(dir=_tmp)
        os.chdir(work)
        try:
            ns = {}
            torch.manual_seed(0)
            exec(compile(py, "README.md", "exec"), ns)
        finally:
            os.chdir(cwd)
        model = ns["model"]
        self.assertIsInstance(model, sbconv_torch.ResNet)
        files = os.listdir(work)
        self.assertEqual(len(files), 1, files)
        path = os.path.join(work, files[0])
        self.assertIn(f'"{files[0]}"', go, "the Go block loads another file than the Python block saves")
        # Untrained BatchNorm statistics make a dull test: randomize them, save
        # again the same way, and load it with the Go block's zero NetSpec.
        sbconv_torch.randomize(model, torch.Generator().manual_seed(4))
        model.eval()
        sbconv_torch.save(model, path)
        x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(5))
        self.assertMatches(model, path, x, (), "README model, zero NetSpec")


    def test_sampling_rates_block(self):
        # The README's rate-r block is sbconv_torch's SBBasic: same keys,
        # shapes and outputs, at every rate and stride, odd sizes included.
        section = readme_section("Sampling rates")
        py = re.findall(r"^```python\n(.*?)^```", section, re.M | re.S)
        self.assertEqual(len(py), 1, "want one ```python block")
        ns = {"torch": torch, "nn": nn}
        exec(compile(py[0], "README.md", "exec"), ns)
        for r, kr, k in [(2, 3, 3), (3, 3, 3), (3, 5, 4), (4, 5, 5), (4, 3, 7)]:
            for stride, c_in in [(1, 4), (2, 3)]:
                with self.subTest(r=r, kr=kr, k=k, stride=stride):
                    mine = ns["SBBasic"](c_in, 4, stride, r, kr, k)
                    ours = sbconv_torch.SBBasic(c_in, 4, stride, r, kr, k)
                    sbconv_torch.randomize(ours, torch.Generator().manual_seed(r))
                    mine.load_state_dict(ours.state_dict(), strict=True)
                    mine.eval(), ours.eval()
                    ran = 0
                    for h, w in [(13, 11), (10, 9), (9, 8), (12, 11), (7, 6)]:
                        x = torch.randn(1, c_in, h, w)
                        with torch.no_grad():
                            try:
                                want = ours(x)
                            except ValueError:  # an even K does not reach this size
                                self.assertEqual(k % 2, 0)
                                with self.assertRaises(ValueError):
                                    mine(x)
                                continue
                            self.assertTrue(torch.equal(mine(x), want))
                            ran += 1
                    self.assertGreater(ran, 0)


if __name__ == "__main__":
    unittest.main()
