"""Time forward + full backward (grad_x, grad_w, grad_b) in float64: fast engine, PyTorch, naive,
and a plain GEMM of the same size, side by side in one run.

Run as ``python benchmarks/bench_engine.py [--rounds N] [layer ...]``. Everything runs in one
process on the same arrays. The candidates are timed in blocks (warm-up, then several timed
calls; see ``time_blocks``), the blocks interleaved round after round (A B C A B C ...), so
drift and bursts of load on a shared machine fall on all of them alike. Each round gives one
ratio fast/torch (median call of each block); the figure is the median of the rounds' ratios,
with their spread. Targets (issue 12): fast <= 0.8x torch on the larger layer, <= 1.0x on the
tutorial and the strided layers.

GFLOP/s: forward + backward is three products of N*F*Ho*Wo*C*KH*KW multiply-adds each; the
"GEMM" lines are NumPy's plain matrix product of that size ((F, C*KH*KW) @ (C*KH*KW, N*Ho*Wo),
and the same transposed), timed in the same rounds: what BLAS does here at best (the faster
of the two), the ceiling the engine is measured against. "bwd only" is the backward pass alone
on an x the forward pass did not see (so it unrolls x's windows again): the cost of a backward
pass without the forward's kept windows.

The environment (thread counts, OPENBLAS_CORETYPE, ...) is left as it is and printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from convviz.engine import Geometry, fast, naive  # noqa: E402

try:
    import torch
    import torch.nn.functional as torch_F
except ImportError:  # torch is optional: the figures without it are still worth printing
    torch = None

LAYERS = {
    # name: x shape, w shape, stride, padding, target ratio fast/torch, naive repeats (0: skip naive)
    "tutorial": ((10, 32, 14, 14), (16, 32, 3, 3), 1, 1, 1.0, 1),
    "larger": ((8, 64, 32, 32), (64, 64, 3, 3), 1, 1, 0.8, 0),
    "strided": ((8, 16, 28, 28), (32, 16, 5, 5), 2, 2, 1.0, 0),
}
WARMUP_S = 0.15  # each block starts with this much warm-up: idle BLAS / OpenMP threads need waking
REPEATS = 8


def run_engine(engine, x, w, b, grad_out, stride, padding):
    out = engine.conv2d_forward(x, w, b, stride=stride, padding=padding)
    grad_x, grad_w, grad_b = engine.conv2d_backward(x, w, grad_out, stride=stride, padding=padding)
    return out, grad_x, grad_w, grad_b


def run_torch(x, w, b, grad_out, stride, padding):
    # from_numpy shares memory, so the conversion costs nothing on either side.
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    out = torch_F.conv2d(xt, wt, bt, stride=stride, padding=padding)
    grad_x, grad_w, grad_b = torch.autograd.grad(out, (xt, wt, bt), torch.from_numpy(grad_out))
    return out.detach().numpy(), grad_x.numpy(), grad_w.numpy(), grad_b.numpy()


def time_blocks(fns: dict, rounds: int, repeats: int = REPEATS, warmup_s: float = WARMUP_S) -> dict:
    """Per function, per round: the seconds of each timed call of its block.

    Each function runs in a block (warm-up, then ``repeats`` timed calls) so that its thread
    pool is the only one awake: alternating call by call lets OpenBLAS's and PyTorch's idle
    threads spin against each other on a small machine."""
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(0.05)
            until = time.perf_counter() + warmup_s
            fn()
            while time.perf_counter() < until:
                fn()
            calls = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                calls.append(time.perf_counter() - t0)
            times[name].append(calls)
    return times


def median_ms(rounds: list[list[float]]) -> float:
    return statistics.median(statistics.median(r) for r in rounds) * 1e3


def best_ms(rounds: list[list[float]]) -> float:
    return min(min(r) for r in rounds) * 1e3


def ratios(a: list[list[float]], b: list[list[float]]) -> list[float]:
    """Per round: median call of ``a`` over median call of ``b``."""
    return [statistics.median(x) / statistics.median(y) for x, y in zip(a, b)]


def blas_summary() -> str:
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        config = info.get("openblas configuration", "")
        return f"{info.get('name')} {info.get('version')}" + (f" ({config})" if config else "")
    except Exception:  # older numpy: no dict mode
        return "see numpy.show_config()"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("layers", nargs="*", metavar="LAYER", help=f"some of {', '.join(LAYERS)} (default all)")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds per layer (default 8)")
    args = parser.parse_args()
    unknown = [name for name in args.layers if name not in LAYERS]
    if unknown:
        parser.error(f"unknown layer {unknown[0]!r}; layers: {', '.join(LAYERS)}")

    print(f"python {platform.python_version()}, numpy {np.__version__}, BLAS {blas_summary()}")
    print(f"{cpu_model()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}")
    if torch is None:
        print("torch: not importable, PyTorch timings and the fast/torch targets are skipped")
    else:
        print(f"torch {torch.__version__}, intra-op threads {torch.get_num_threads()}")
    print()

    rng = np.random.default_rng(0)
    results = []
    for name in args.layers or LAYERS:
        x_shape, w_shape, stride, padding, target, naive_repeats = LAYERS[name]
        geo = Geometry.from_shapes(x_shape, w_shape, stride=stride, padding=padding)
        x, w, b = rng.standard_normal(x_shape), rng.standard_normal(w_shape), rng.standard_normal(w_shape[0])
        x_other = rng.standard_normal(x_shape)  # for the backward alone: not the forward's x
        grad_out = rng.standard_normal(geo.out_shape)
        print(f"== {name} layer: x {x_shape}, w {w_shape}, stride {stride}, padding {padding} -> out {geo.out_shape}; "
              f"fast engine formulation: {fast.formulation(geo)}")

        gemm_a = rng.standard_normal((geo.F, geo.C * geo.KH * geo.KW))
        gemm_b = rng.standard_normal((geo.C * geo.KH * geo.KW, geo.N * geo.Ho * geo.Wo))
        fns = {
            "fast": lambda: run_engine(fast, x, w, b, grad_out, stride, padding),
            "fast bwd only": lambda: fast.conv2d_backward(x_other, w, grad_out, stride=stride, padding=padding),
            "GEMM": lambda: gemm_a @ gemm_b,  # (F, C*KH*KW) @ (C*KH*KW, N*Ho*Wo)
            "GEMM^T": lambda: gemm_b.T @ gemm_a.T,  # the same product, transposed: OpenBLAS is faster at one
        }
        if torch is not None:
            fns["torch"] = lambda: run_torch(x, w, b, grad_out, stride, padding)

            def torch_backward_only():
                xt = torch.from_numpy(x_other).requires_grad_()
                wt, bt = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
                out = torch_F.conv2d(xt, wt, bt, stride=stride, padding=padding)
                t0 = time.perf_counter()
                torch.autograd.grad(out, (xt, wt, bt), torch.from_numpy(grad_out))
                return time.perf_counter() - t0
            # Same numbers, so the race is between equals.
            for a, t in zip(fns["fast"](), fns["torch"]()):
                np.testing.assert_allclose(a, t, rtol=1e-9, atol=1e-9)
        for a, t in zip(run_engine(fast, x, w, b, grad_out, stride, padding), run_engine(naive, x, w, b, grad_out, stride, padding)
                        if naive_repeats else ()):
            np.testing.assert_allclose(a, t, rtol=1e-12, atol=1e-12)
        times = time_blocks(fns, args.rounds)
        if naive_repeats:
            times["naive"] = time_blocks({"naive": lambda: run_engine(naive, x, w, b, grad_out, stride, padding)},
                                         1, naive_repeats, warmup_s=0)["naive"]

        flops = 2 * geo.macs
        for label, rounds in times.items():
            passes = 2 if label == "fast bwd only" else 1 if label.startswith("GEMM") else 3
            t = median_ms(rounds)
            print(f"  {label:<14} median {t:9.2f} ms   best {best_ms(rounds):9.2f} ms   "
                  f"{passes * flops / t / 1e6:6.1f} GFLOP/s")
        gemm_rate = flops / min(median_ms(times["GEMM"]), median_ms(times["GEMM^T"])) / 1e6
        fast_rate = 3 * flops / median_ms(times["fast"]) / 1e6
        print(f"  fast engine runs at {fast_rate / gemm_rate:.0%} of the plain GEMM's rate (the faster of the two: "
              f"{gemm_rate:.0f} GFLOP/s)")
        if torch is not None:
            r = ratios(times["fast"], times["torch"])
            ratio = statistics.median(r)
            verdict = "PASS" if ratio <= target else "MISS"
            print(f"  fast/torch  = {ratio:.2f}x (median of {len(r)} rounds; rounds {min(r):.2f}-{max(r):.2f}; "
                  f"best-of {best_ms(times['fast']) / best_ms(times['torch']):.2f}x)   target <= {target}x: {verdict}")
            for _ in range(5):
                torch_backward_only()
            bwd_torch = [[torch_backward_only() for _ in range(REPEATS)] for _ in range(3)]
            print(f"  backward alone: fast {median_ms(times['fast bwd only']):.2f} ms (no kept windows), "
                  f"torch {median_ms(bwd_torch):.2f} ms (autograd's backward of a forward just run)")
            if "naive" in times:
                print(f"  naive/torch = {median_ms(times['naive']) / median_ms(times['torch']):6.1f}x")
            results.append((name, ratio, min(r), max(r), target, verdict))
        print()

    if results:
        print("summary: " + "; ".join(f"{n} fast/torch {r:.2f}x ({lo:.2f}-{hi:.2f}; target <= {t}x) {v}"
                                      for n, r, lo, hi, t, v in results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
