"""The overhead of ``convviz.check`` around a fast user implementation: the default battery with
the learner's forward and backward being the fast engine itself (so nearly all the time is the
check's own: generating the problems, the reference answers, comparing, the report).

Run as ``python benchmarks/bench_check.py``. Target: < 2 s for the default battery, both passes.
It also times a wrong backward (every configuration fails, so every diagnosis is tried), which is
the check's worst case, and the user's own calls alone, measured side by side in one run.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from convviz.checking import BATTERY, check  # noqa: E402
from convviz.engine import fast  # noqa: E402

REPEATS = 5


def forward(x, w, b, stride=1, padding=0, dilation=1):
    return fast.conv2d_forward(x, w, b, stride=stride, padding=padding, dilation=dilation)


def backward(x, w, grad_out, stride=1, padding=0, dilation=1):
    return fast.conv2d_backward(x, w, grad_out, stride=stride, padding=padding, dilation=dilation)


def user_calls_alone() -> None:
    for cfg in BATTERY:
        pb = cfg.problem()
        forward(pb.x, pb.w, pb.b, **pb.hyper)
        backward(pb.x, pb.w, pb.grad_out, **pb.hyper)


def rotated_backward(x, w, grad_out, stride=1, padding=0, dilation=1):
    """A wrong backward (the tutorial's scatter with the kernel rotated): every grad_x fails."""
    grad_x, grad_w, grad_b = backward(x, w[:, :, ::-1, ::-1].copy(), grad_out, stride=stride, padding=padding,
                                      dilation=dilation)
    _, grad_w, grad_b = backward(x, w, grad_out, stride=stride, padding=padding, dilation=dilation)
    return grad_x, grad_w, grad_b


def timed(fn) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    print(f"convviz check overhead ({platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{len(BATTERY)} configurations, median of {REPEATS})")
    rows = [("user's calls alone", user_calls_alone),
            ("check, right forward + backward", lambda: check(forward=forward, backward=backward)),
            ("check, wrong backward (all diagnosed)", lambda: check(backward=rotated_backward))]
    results = {}
    for name, fn in rows:
        times = timed(fn)
        results[name] = statistics.median(times)
        print(f"  {name:40s} median {results[name]:.3f} s  (best {min(times):.3f} s)")
    worst = max(results[name] for name, _ in rows[1:])
    print(f"  target < 2 s for the battery: {'met' if worst < 2 else 'MISSED'} ({worst:.3f} s at worst)")


if __name__ == "__main__":
    main()
