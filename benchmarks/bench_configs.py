"""Time forward + full backward in float64 for the configurations of issue 9 (groups, padding
modes, transposed convolutions): the fast engine beside PyTorch, side by side in one run.

Run as ``python benchmarks/bench_configs.py [--rounds N]``. The two are timed in blocks (warm-up,
then several calls, the median kept), the blocks interleaved round after round, so load on a
shared machine falls on both alike; the figure is the median of the rounds' ratios fast/torch,
with their spread. No target was set for these (issue 9 asks for right numbers in every
configuration; issue 12's title asks for the engine ahead of PyTorch on every layer); the plain
layers' targets are benchmarks/bench_engine.py's. The plain tutorial layer is timed too, as the
yardstick of the same run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from convviz.engine import fast  # noqa: E402

import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

# name: (x shape, w shape, settings), each a layer one meets in practice
LAYERS = {
    "plain (tutorial layer)": ((10, 32, 14, 14), (16, 32, 3, 3), {"padding": 1}),
    "depthwise 3x3 (MobileNet)": ((8, 64, 28, 28), (64, 1, 3, 3), {"padding": 1, "groups": 64}),
    "depthwise 3x3, stride 2": ((8, 64, 56, 56), (64, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 64}),
    "grouped (ResNeXt, 8 groups)": ((8, 64, 14, 14), (64, 8, 3, 3), {"padding": 1, "groups": 8}),
    "grouped, 8 groups, stride 2": ((8, 64, 28, 28), (64, 8, 3, 3), {"stride": 2, "padding": 1, "groups": 8}),
    "reflect padding": ((8, 16, 32, 32), (16, 16, 3, 3), {"padding": 1, "padding_mode": "reflect"}),
    "'same', 4x4 kernel, circular": ((8, 16, 24, 24), (16, 16, 4, 4), {"padding": "same", "padding_mode": "circular"}),
    "transposed 2x upsampling": ((8, 32, 14, 14), (32, 16, 3, 3),
                                 {"transposed": True, "stride": 2, "padding": 1, "output_padding": 1}),
    "transposed 4x4, stride 2 (DCGAN)": ((8, 128, 16, 16), (128, 64, 4, 4), {"transposed": True, "stride": 2, "padding": 1}),
}
TORCH_MODE = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def convviz_pass(x, w, go, s):
    s = dict(s)
    if s.pop("transposed", False):
        fast.conv_transpose2d(x, w, None, **s)
        return fast.conv_transpose2d_backward(x, w, go, **s)
    fast.conv2d_forward(x, w, None, **s)
    return fast.conv2d_backward(x, w, go, **s)


def torch_pass(x, w, go, s):
    s = dict(s)
    x, w = x.detach().requires_grad_(), w.detach().requires_grad_()
    if s.pop("transposed", False):
        out = TF.conv_transpose2d(x, w, **s)
    elif s.get("padding_mode", "zeros") != "zeros":  # as nn.Conv2d: pad in the mode, then no padding
        mode = s.pop("padding_mode")
        layer = torch.nn.Conv2d(x.shape[1], w.shape[0], w.shape[2:], padding=s.pop("padding"), padding_mode=mode,
                                bias=False, **s)
        out = TF.conv2d(TF.pad(x, layer._reversed_padding_repeated_twice, mode=TORCH_MODE[mode]), w, **s)
    else:
        out = TF.conv2d(x, w, **s)
    out.backward(go)
    return x.grad, w.grad


def block(fn, calls=5):
    fn()  # warm-up
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    print(f"numpy {np.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), float64; "
          f"forward + full backward; median of {args.rounds} rounds' ratios fast/torch [min-max]")
    rng = np.random.default_rng(0)
    for name, (x_shape, w_shape, s) in LAYERS.items():
        x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
        out = TF.conv_transpose2d(torch.tensor(x), torch.tensor(w), **{k: v for k, v in s.items() if k != "transposed"}) \
            if s.get("transposed") else None
        if out is None:
            out = torch.tensor(fast.conv2d_forward(x, w, None, **s))
        go = rng.standard_normal(tuple(out.shape))
        xt, wt, got = torch.tensor(x), torch.tensor(w), torch.tensor(go)
        # the same numbers first
        gx, gw, _ = convviz_pass(x, w, go, s)
        tx, tw = torch_pass(xt, wt, got, s)
        assert np.allclose(gx, tx.numpy(), atol=1e-9) and np.allclose(gw, tw.numpy(), atol=1e-9), name
        ratios, mine, theirs = [], [], []
        for _ in range(args.rounds):
            a = block(lambda: convviz_pass(x, w, go, s))
            b = block(lambda: torch_pass(xt, wt, got, s))
            mine.append(a)
            theirs.append(b)
            ratios.append(a / b)
        print(f"{name:34s} {statistics.median(ratios):5.2f}x [{min(ratios):.2f}-{max(ratios):.2f}]   "
              f"fast {statistics.median(mine) * 1e3:7.2f} ms, torch {statistics.median(theirs) * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
