#!/usr/bin/python3
"""Peer benchmark: whole ResNets, regular and spatial-bottleneck, in PyTorch.

    /usr/bin/python3 bench/peers/torch_resnet.py [--threads N] [--batch N]
                                                 [--nets resnet20,resnet50]
                                                 [--min-time S] [--quick]

Builds the full-size networks (default widths, 1000 classes) with the
repository's PyTorch module, python/sbconv_torch.py (imported by path: the
very networks sbconv runs and the test cases were generated with): resnet20
and resnet56 at 32x32, resnet18, resnet34 and resnet50 at 224x224, each
regular and with spatial bottlenecks in all stages. Random weights
(sbconv_torch.randomize, so activations stay O(1) and no denormals appear),
eval mode, no_grad, float32, one thread by default.

Each network is timed eagerly and as torch.jit.freeze(torch.jit.script(m))
(torch.jit.trace if scripting fails): warm-up, then the median of at least
--min-reps runs and at least --min-time seconds. GFLOP counts 2 per
multiply-add of every conv and the fc that reaches the output; for the
transposed convolution only the taps that land inside the output (no
multiply by an inserted zero), the same rule as sbconv's benchmarks.
--quick: resnet20 and resnet18 (at 64x64), one warm-up and one run each,
just to prove the program works.
"""

import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))
import sbconv_torch  # noqa: E402  (the repository's module, by path)

NETS = [  # (arch, input size)
    ("resnet20", 32), ("resnet56", 32),
    ("resnet18", 224), ("resnet34", 224), ("resnet50", 224),
]


def _span(n_in, n_out, k, s, p):
    """Taps (input position, kernel tap) of a 1-D transposed conv landing in [0, n_out)."""
    return sum(1 for i in range(n_in) for t in range(k) if 0 <= i * s - p + t < n_out)


def count_flops(model, x):
    """2 x useful multiply-adds of every Conv2d, ConvTranspose2d and Linear."""
    total = [0]

    def hook(m, inp, out):
        n = out.shape[0]
        if isinstance(m, nn.ConvTranspose2d):
            ih, iw = inp[0].shape[2:]
            oh, ow = out.shape[2:]
            taps = (_span(ih, oh, m.kernel_size[0], m.stride[0], m.padding[0]) *
                    _span(iw, ow, m.kernel_size[1], m.stride[1], m.padding[1]))
            total[0] += 2 * n * taps * m.in_channels * m.out_channels // m.groups
        elif isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            total[0] += 2 * out.numel() * kh * kw * m.in_channels // m.groups
        elif isinstance(m, nn.Linear):
            total[0] += 2 * n * m.in_features * m.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules()
          if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return total[0]


def timeit(fn, warm, min_reps, min_time):
    """Median seconds of one call to fn."""
    t0 = time.perf_counter()
    for i in range(warm):
        fn()
    while time.perf_counter() - t0 < 0.25 * min_time and warm > 0:
        fn()
    runs, t0 = [], time.perf_counter()
    while len(runs) < min_reps or time.perf_counter() - t0 < min_time:
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    return statistics.median(runs), len(runs)


def frozen(model, x):
    """torch.jit.freeze of the scripted model (traced if scripting fails), and how."""
    try:
        sm, how = torch.jit.script(model), "script"
    except Exception as e:  # noqa: BLE001 - report and fall back
        print(f"# torch.jit.script failed ({type(e).__name__}), tracing", file=sys.stderr)
        with torch.no_grad():
            sm, how = torch.jit.trace(model, x), "trace"
    return torch.jit.freeze(sm.eval()), how


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    ap.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    ap.add_argument("--classes", type=int, default=1000, help="fc outputs (default 1000)")
    ap.add_argument("--nets", default="", help="comma-separated subset of " + ",".join(a for a, _ in NETS))
    ap.add_argument("--min-time", type=float, default=2.0, help="seconds of timed runs per network and mode")
    ap.add_argument("--min-reps", type=int, default=7, help="timed runs at least (default 7)")
    ap.add_argument("--no-jit", action="store_true", help="skip the frozen TorchScript column")
    ap.add_argument("--quick", action="store_true", help="resnet20 + resnet18@64, 1 run each: a smoke test")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    nets = NETS
    warm, min_reps, min_time = 3, args.min_reps, args.min_time
    if args.quick:
        nets = [("resnet20", 32), ("resnet18", 64)]
        warm, min_reps, min_time = 1, 1, 0.0
    if args.nets:
        want = args.nets.split(",")
        unknown = [n for n in want if n not in dict(NETS)]
        if unknown:
            ap.error(f"unknown nets {unknown}")
        nets = [(a, s) for a, s in nets if a in want] or [(a, s) for a, s in NETS if a in want]

    print(f"# torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch}, "
          f"{args.classes} classes, float32, eval, no_grad; median ms "
          f"({'1 run' if args.quick else f'>= {min_reps} runs and >= {min_time:g} s'})")
    print(f"{'network':16s} {'input':>9s} {'GFLOP':>7s} {'eager ms':>10s} {'frozen ms':>10s} "
          f"{'GF/s eager':>10s} {'GF/s frozen':>11s} {'reg/SB':>7s}")
    gen_rng = torch.Generator().manual_seed(1)
    for arch, size in nets:
        stages = [1, 2, 3] if arch in sbconv_torch.CIFAR_DEPTHS else [1, 2, 3, 4]
        reg_ms = None
        for sb in ([], stages):
            model = sbconv_torch.ResNet(arch, sb, num_classes=args.classes)
            sbconv_torch.randomize(model, gen_rng)
            model.eval()
            x = torch.randn(args.batch, 3, size, size, generator=gen_rng)
            flops = count_flops(model, x)
            with torch.no_grad():
                t_e, _ = timeit(lambda: model(x), warm, min_reps, min_time)
                t_f = float("nan")
                if not args.no_jit:
                    fm, how = frozen(model, x)
                    y_e, y_f = model(x), fm(x)
                    err = (y_e - y_f).abs().max().item()
                    if err > 1e-3 * max(1.0, y_e.abs().max().item()):
                        print(f"# {arch} sb={sb}: frozen ({how}) differs from eager by {err:g}", file=sys.stderr)
                    t_f, _ = timeit(lambda: fm(x), max(warm, 2), min_reps, min_time)
            name = arch + ("-sb" if sb else "")
            ratio = f"{reg_ms / (t_e * 1e3):7.2f}" if sb and reg_ms else ""
            if not sb:
                reg_ms = t_e * 1e3
            print(f"{name:16s} {f'{size}x{size}':>9s} {flops / 1e9:7.3f} {t_e * 1e3:10.2f} {t_f * 1e3:10.2f} "
                  f"{flops / t_e / 1e9:10.2f} {flops / t_f / 1e9:11.2f} {ratio:>7s}", flush=True)


if __name__ == "__main__":
    main()
