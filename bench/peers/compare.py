#!/usr/bin/env python3
"""Put sbbench's numbers beside the peers': Markdown tables for the README.

    go run ./cmd/sbbench -chart docs/sbbench.svg | tee docs/sbbench.txt
    bench/peers/run.sh | tee docs/peers.txt
    python3 bench/peers/compare.py docs/sbbench.txt docs/peers.txt

Reads sbbench's tables (its text output) and run.sh's output, and prints,
per stage shape: the spatial-bottleneck block's time, the measured speedup
of the spatial-bottleneck block over the regular one, and the restore's
(deconv_s2) GFLOP/s, for sbconv, the Go peer (im2col + gonum, from
sbbench's own columns) and every peer section of run.sh's output. sbbench's
basic/<shape> blocks are the peers' basicblk and sb_block (C to C, stride
1); both count the restore's GFLOP/s the same way. Every number is copied
from the two files; nothing is computed but the layout.
"""

import re
import sys

SHAPES = ["cifar-16x32", "cifar-32x16", "cifar-64x8", "in-64x56", "in-128x28", "in-256x14", "in-512x7"]


def read_sbbench(path):
    """{shape: {...}} from sbbench's layers and blocks tables, and its header."""
    rows, table, head = {s: {} for s in SHAPES}, None, []
    for line in open(path):
        if line.startswith("# "):
            head.append(line[2:].strip())
        if line.startswith("## "):
            table = line.split(":")[0][3:]
            continue
        f = line.split()
        if not f:
            continue
        if table == "layers" and f[0] in rows and len(f) >= 5 and f[1] == "deconv_s2":
            rows[f[0]]["deconv"] = float(f[3])
            if len(f) >= 8:
                rows[f[0]]["gonum_deconv"] = float(f[6])
        if table == "blocks" and f[0].startswith("basic/") and f[0][6:] in rows:
            r = rows[f[0][6:]]
            r["reg"], r["sb"], r["speedup"], r["flops"] = float(f[1]), float(f[2]), float(f[3]), float(f[4])
            if len(f) >= 14:
                r["gonum_sb"], r["gonum_speedup"] = float(f[10]), float(f[11])
    return rows, head


def read_peers(path):
    """[(section name, {shape: (deconv GF/s, sb_block us, ratio)})] from run.sh's output."""
    out, name = [], None
    for line in open(path):
        m = re.match(r"== (.*)", line)
        if m:
            name = m.group(1).strip()
            continue
        f = line.split()
        if name and len(f) == 11 and f[0] in SHAPES:
            if not out or out[-1][0] != name:
                out.append((name, {}))
            out[-1][1][f[0]] = (float(f[6]), float(f[8]), float(f[9]))
    return out


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sb, head = read_sbbench(sys.argv[1])
    peers = read_peers(sys.argv[2])
    cols = ["sbconv", "im2col + gonum"] + [n for n, _ in peers]
    shapes = [s for s in SHAPES if "sb" in sb[s]]
    if not shapes:
        sys.exit("compare.py: no basic/<shape> rows in " + sys.argv[1])

    def table(title, unit, get_sb, get_gonum, peer_index, spec, extra=None):
        print(f"{title}\n")
        hdr = ["shape"] + ([extra[0]] if extra else []) + cols
        print("| " + " | ".join(hdr) + " |")
        print("|" + "---|" * len(hdr))
        for s in shapes:
            cells = [s] + ([fmt(extra[1](s), ".2f")] if extra else [])
            cells += [fmt(get_sb(s), spec), fmt(get_gonum(s), spec)]
            cells += [fmt(p[s][peer_index] if s in p else None, spec) for _, p in peers]
            print("| " + " | ".join(cells) + " |")
        print()

    print("<!-- " + " | ".join(head[:2]) + " -->\n")
    table("The spatial-bottleneck block (C to C, stride 1), microseconds:", "us",
          lambda s: sb[s].get("sb"), lambda s: sb[s].get("gonum_sb"), 1, ".1f")
    table("Its measured speedup over the regular basic block (`flops`: sbbench's FLOP ratio by the real FLOPs, the arithmetic's bound; the peers count padding taps too, which gives 4.00 on every even map):", "",
          lambda s: sb[s].get("speedup"), lambda s: sb[s].get("gonum_speedup"), 2, ".2f",
          extra=("flops", lambda s: sb[s].get("flops")))
    table("The restore alone (deconv_s2, bias + ReLU), GFLOP/s by the peers' count:", "GF/s",
          lambda s: sb[s].get("deconv"), lambda s: sb[s].get("gonum_deconv"), 0, ".1f")


if __name__ == "__main__":
    main()
