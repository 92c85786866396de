"""Time forward + full backward (grad_x, grad_w, grad_b) in float64: fast engine, PyTorch, naive.

Run as ``python benchmarks/bench_engine.py``. Everything runs in one process on the same
arrays; the fast engine and PyTorch are timed in alternating blocks (see ``time_blocks``).
Each figure is the median (and the best) of
several repeats after warm-up. Targets: fast <= 1.5x torch on the tutorial layer, <= 1.1x on
the larger one. The environment (thread counts, OPENBLAS_CORETYPE, ...) is left as it is.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from convviz.engine import fast, naive  # noqa: E402

try:
    import torch
    import torch.nn.functional as torch_F
except ImportError:  # torch is optional: the figures without it are still worth printing
    torch = None

LAYERS = [
    # name, x shape, w shape, padding, target ratio fast/torch, naive repeats (0: skip naive)
    ("tutorial layer", (10, 32, 14, 14), (16, 32, 3, 3), 1, 1.5, 3),
    ("larger layer", (8, 64, 32, 32), (64, 64, 3, 3), 1, 1.1, 0),
]
WARMUP = 2
REPEATS = 6


def run_engine(engine, x, w, b, grad_out, padding):
    out = engine.conv2d_forward(x, w, b, padding=padding)
    grad_x, grad_w, grad_b = engine.conv2d_backward(x, w, grad_out, padding=padding)
    return out, grad_x, grad_w, grad_b


def run_torch(x, w, b, grad_out, padding):
    # from_numpy shares memory, so the conversion costs nothing on either side.
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    bt = torch.from_numpy(b).requires_grad_()
    out = torch_F.conv2d(xt, wt, bt, padding=padding)
    grad_x, grad_w, grad_b = torch.autograd.grad(out, (xt, wt, bt), torch.from_numpy(grad_out))
    return out.detach().numpy(), grad_x.numpy(), grad_w.numpy(), grad_b.numpy()


def time_blocks(fns: dict, warmup: int, repeats: int, rounds: int = 4) -> dict:
    """Seconds per call for each function.

    Each function runs in a block (warm-up, then ``repeats`` timed calls) so that its thread
    pool is the only one awake: alternating call by call lets OpenBLAS's and PyTorch's idle
    threads spin against each other on a small machine. The blocks are taken ``rounds`` times
    (A B A B ...) so that drift and bursts of load on a shared machine falls on every function alike.
    """
    times = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            time.sleep(0.3)  # let the previous block's spinning BLAS / OpenMP threads go to sleep
            for _ in range(warmup):
                fn()
            for _ in range(repeats):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return times


def show(name: str, ts: list[float]) -> str:
    return f"{name:<6} median {statistics.median(ts) * 1e3:9.2f} ms   best {min(ts) * 1e3:9.2f} ms   ({len(ts)} runs)"


def blas_summary() -> str:
    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        config = info.get("openblas configuration", "")
        return f"{info.get('name')} {info.get('version')}" + (f" ({config})" if config else "")
    except Exception:  # older numpy: no dict mode
        return "see numpy.show_config()"


def main() -> int:
    print(f"python {platform.python_version()}, numpy {np.__version__}, BLAS {blas_summary()}")
    print(f"cpus: {os.cpu_count()}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}")
    if torch is None:
        print("torch: not importable, PyTorch timings and the fast/torch targets are skipped")
    else:
        print(f"torch {torch.__version__}, intra-op threads {torch.get_num_threads()}")
    print()

    rng = np.random.default_rng(0)
    results = []
    for name, x_shape, w_shape, padding, target, naive_repeats in LAYERS:
        x = rng.standard_normal(x_shape)
        w = rng.standard_normal(w_shape)
        b = rng.standard_normal(w_shape[0])
        out = fast.conv2d_forward(x, w, b, padding=padding)
        grad_out = rng.standard_normal(out.shape)
        print(f"== {name}: x {x_shape}, w {w_shape}, padding {padding}, stride 1 -> out {out.shape}")

        fns = {"fast": lambda: run_engine(fast, x, w, b, grad_out, padding)}
        if torch is not None:
            fns["torch"] = lambda: run_torch(x, w, b, grad_out, padding)
            # Same numbers, so the race is between equals.
            for a, t in zip(fns["fast"](), fns["torch"]()):
                np.testing.assert_allclose(a, t, rtol=1e-9, atol=1e-9)
        times = time_blocks(fns, WARMUP, REPEATS)
        if naive_repeats:
            times["naive"] = time_blocks(
                {"naive": lambda: run_engine(naive, x, w, b, grad_out, padding)}, 1, naive_repeats, rounds=1
            )["naive"]
        for engine_name, ts in times.items():
            print("  " + show(engine_name, ts))

        if torch is not None:
            t_torch = statistics.median(times["torch"])
            ratio = statistics.median(times["fast"]) / t_torch
            best_ratio = min(times["fast"]) / min(times["torch"])
            verdict = "PASS" if ratio <= target else "MISS"
            print(f"  fast/torch  = {ratio:6.2f}x (median; best-of {best_ratio:.2f}x)   "
                  f"target <= {target}x: {verdict}")
            if "naive" in times:
                print(f"  naive/torch = {statistics.median(times['naive']) / t_torch:6.1f}x (median)")
            results.append((name, ratio, target, verdict))
        print()

    if results:
        print("summary: " + "; ".join(f"{n} fast/torch {r:.2f}x (<= {t}x) {v}" for n, r, t, v in results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
