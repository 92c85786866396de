"""The code for a view: a PyTorch snippet and a NumPy + convviz snippet that rebuild the problem
on screen exactly and print the tensor the view shows (the whole tensor, then the slice drawn).

Values are written out in full for small problems. Otherwise a tensor convviz generated is
regenerated from its shape, value kind and seed (the snippet carries convviz's generator: NumPy's
``default_rng([seed, k])``, one stream per tensor), with the cells the user typed set after it;
a tensor that was sent (or comes from elsewhere) is written out in full, up to ``MAX_INLINE``
numbers. Each expression is checked here against the problem's own arrays before it is written,
so a snippet never reproduces a different problem.
"""

from __future__ import annotations

import numpy as np

from ..problem import ProblemError
from ..trace import PHASES, Convolution, generate_arrays

#: problems whose x, w, b and grad_out hold at most this many numbers together are written out
INLINE_ELEMENTS = 256
#: the most numbers one tensor written out in full may hold (beyond: refused)
MAX_INLINE = 100_000
#: the generated tensors, in the order of their random streams (convviz.trace.generate_arrays)
STREAMS = ("x", "w", "b", "grad_out")
SHAPES = {"x": "(N, C, H, W)", "w": "(F, C, KH, KW)", "b": "(F,)", "grad_out": "(N, F, Ho, Wo)"}

# What a view shows, per phase: the tensor printed, and the slice of it the page draws.
VIEWED = {
    "forward": ("out", "out[{n}, {f}]", "sample n={n}, kernel f={f}"),
    "grad_x": ("grad_x", "grad_x[{n}, {c}]", "sample n={n}, channel c={c}"),
    "grad_x_scatter": ("grad_x", "grad_x[{n}, {c}]", "sample n={n}, channel c={c}"),
    "grad_w": ("grad_w", "grad_w[{f}, {cg}]", "kernel f={f}, channel c={c}"),
    "grad_b": ("grad_b", None, None),
    "im2col": ("cols", "cols[{r0}:{r1}]", "the windows of sample n={n}"),
    # issue 9: the fold's two stages end in grad_x; a transposed convolution's w is (C, F/groups, KH, KW)
    "grad_x_pad": ("grad_x", "grad_x[{n}, {c}]", "sample n={n}, channel c={c}"),
    "fold": ("grad_x", "grad_x[{n}, {c}]", "sample n={n}, channel c={c}"),
    "transposed_forward": ("out", "out[{n}, {f}]", "sample n={n}, output channel f={f}"),
    "transposed_scatter": ("out", "out[{n}, {f}]", "sample n={n}, output channel f={f}"),
    "transposed_grad_x": ("grad_x", "grad_x[{n}, {c}]", "sample n={n}, channel c={c}"),
    "transposed_grad_w": ("grad_w", "grad_w[{c}, {fg}]", "input channel c={c}, output channel f={f}"),
}

GENERATOR = {
    "integers": "rng.integers(-3, 4, size=shape).astype(np.float64)",
    "normal": "rng.standard_normal(shape)",
    "ones": "np.zeros(shape) if k == 2 else np.ones(shape)",
}


def parse_edits(text: str | None) -> list[tuple[str, tuple[int, ...], float]]:
    """The page's ``edit`` URL value, ``x@0,0,1,2=5;w@...``, as (tensor, index, value)."""
    edits = []
    for item in filter(None, (part.strip() for part in (text or "").split(";"))):
        try:
            target, value = item.split("=")
            tensor, index = target.split("@")
            idx = tuple(int(i) for i in index.split(","))
            number = float(value)
        except ValueError:
            raise ProblemError("invalid_query", f"edit must be tensor@i,j,k,l=value items separated by ';' "
                               f"(e.g. x@0,0,1,2=5), got {item!r}", param="edit") from None
        if tensor not in STREAMS or not np.isfinite(number):
            raise ProblemError("invalid_query", f"an edit sets a finite value of x, w, b or grad_out, got {item!r}",
                               param="edit")
        edits.append((tensor, idx, number))
    return edits


def _literal(arr: np.ndarray, indent: str) -> str:
    """``arr`` as a nested Python list, one innermost row a line; floats that are whole
    numbers written as integers, others with repr (exact: float64 reads them back bit for bit)."""
    def number(v: float) -> str:
        return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)

    def rows(a: np.ndarray, depth: int) -> str:
        if a.ndim == 1:
            return "[" + ", ".join(number(v) for v in a.tolist()) + "]"
        pad = indent + " " * (depth + 1)
        return "[" + (",\n" + pad).join(rows(sub, depth + 1) for sub in a) + "]"

    return rows(arr, 0)


class _Tensor:
    """How one input tensor is written: in full, generated (then edited), zeros or ones."""

    def __init__(self, name: str, actual: np.ndarray, source: str, edits=()):
        self.name, self.actual, self.source, self.edits = name, actual, source, list(edits)


def _sources(conv: Convolution, generated: dict | None, edits, inline_all: bool) -> list[_Tensor]:
    out = []
    for k, name in enumerate(STREAMS):
        actual = getattr(conv, name)
        mine = [(idx, v) for t, idx, v in edits if t == name]
        if inline_all:
            out.append(_Tensor(name, actual, "inline"))
            continue
        if generated is not None and name in generated:
            base = generated[name].copy()
            for idx, v in mine:
                base[idx] = v
            if np.array_equal(base, actual):
                out.append(_Tensor(name, actual, "generated", mine))
                continue
        if name == "b" and not actual.any() and not mine:
            out.append(_Tensor(name, actual, "zeros"))
        elif name == "grad_out" and (actual == 1).all() and not mine:
            out.append(_Tensor(name, actual, "ones"))
        else:
            if actual.size > MAX_INLINE:
                raise ProblemError("limit_exceeded", f"{name} has {actual.size:,} values that are not generated from a "
                                   f"seed; a snippet writes at most {MAX_INLINE:,} numbers of a tensor out in full "
                                   "(send shapes, a value kind and a seed instead)")
            out.append(_Tensor(name, actual, "inline"))
    return out


def _generator(kind: str, seed: int) -> list[str]:
    return [
        f"def generate(shape, k, kind={kind!r}, seed={seed}):",
        '    """convviz\'s generated values: tensor k of (x, w, b, grad_out), each from its own stream."""',
        "    rng = np.random.default_rng([seed, k])",
        f"    return {GENERATOR[kind]}",
        "",
    ]


def snippets(conv: Convolution, phase: str, *, values: str, seed: int, explicit: set[str],
             edits=(), n: int = 0, f: int = 0, c: int = 0) -> dict:
    """``{"pytorch": code, "numpy": code, "values": "inline" | "generated"}`` for ``phase`` of
    ``conv``. ``explicit``: the tensors the problem sent as arrays; ``edits``: (tensor, index,
    value) set on the generated values (the page's typed cells)."""
    if phase not in PHASES:
        raise ProblemError("invalid_query", f"phase must be one of {', '.join(PHASES)}, got {phase!r}", param="phase")
    g = conv.geo
    for tensor, idx, _ in edits:
        shape = getattr(g, f"{tensor}_shape")
        if len(idx) != len(shape) or not all(0 <= i < s for i, s in zip(idx, shape)):
            raise ProblemError("invalid_query", f"edit index {tensor}@{','.join(map(str, idx))} is outside {tensor}'s "
                               f"shape {shape}", param="edit")
    total = sum(getattr(conv, name).size for name in STREAMS)
    inline_all = total <= INLINE_ELEMENTS
    generated = None
    if not inline_all and not {"x", "w"} <= explicit:
        generated = generate_arrays(g, values, seed)
        for name in explicit:
            generated.pop(name, None)  # a sent tensor is never "generated"
    tensors = _sources(conv, generated, list(edits), inline_all)
    viewed = VIEWED.get(phase, ("out", None, None))
    select = {"n": n, "f": f, "c": c, "r0": n * g.Ho * g.Wo, "r1": (n + 1) * g.Ho * g.Wo,
              # the place of c among kernel f's channels (w's second axis), and of f among c's kernels
              "cg": c % g.Cg, "fg": f % g.Fg}
    common = dict(tensors=tensors, g=g, viewed=viewed, select=select, phase=phase)
    return {"phase": phase, "values": "inline" if all(t.source == "inline" for t in tensors) else "generated",
            "pytorch": _pytorch(**common, values=values, seed=seed),
            "numpy": _numpy(**common, values=values, seed=seed)}


def _hyper(g) -> str:
    """The settings as keywords, the defaults of issue 9 (groups 1, zeros) left out."""
    if g.transposed:
        return (f"stride={g.stride}, padding={g.padding}, output_padding={g.output_padding}, groups={g.groups}, "
                f"dilation={g.dilation}")
    padding = tuple(g.padding) if len(g.padding_arg) == 2 else list(g.pads)
    text = f"stride={g.stride}, padding={padding}, dilation={g.dilation}"
    return text + (f", groups={g.groups}" if g.groups != 1 else "") + (
        f", padding_mode={g.padding_mode!r}" if g.padding_mode != "zeros" else "")


def _torch_forward(g) -> str:
    """PyTorch's forward for ``g``: conv_transpose2d; conv2d; or F.pad in the mode (or on four
    sides), then conv2d with no padding, as nn.Conv2d does for a padding mode."""
    if g.transposed:
        return f"F.conv_transpose2d(x, w, b, {_hyper(g)})"
    groups = f", groups={g.groups}" if g.groups != 1 else ""
    if g.padding_mode == "zeros" and len(g.padding_arg) == 2:
        return f"F.conv2d(x, w, b, stride={g.stride}, padding={g.padding}, dilation={g.dilation}{groups})"
    top, bottom, left, right = g.pads
    mode = {"zeros": "constant"}.get(g.padding_mode, g.padding_mode)
    return (f"F.conv2d(F.pad(x, ({left}, {right}, {top}, {bottom}), mode={mode!r}), w, b, stride={g.stride}, "
            f"dilation={g.dilation}{groups})")


def _kind(g) -> str:
    return "conv_transpose2d" if g.transposed else "conv2d"


def _header(phase: str, g, library: str) -> list[str]:
    entry = PHASES[phase]
    return [f'"""convviz: the {entry.title} view ({entry.subtitle}) of this problem, in {library}, float64.',
            f"x {g.x_shape}, w {g.w_shape}, {_hyper(g)}; out {g.out_shape}.",
            '"""']


def _prints(viewed, select) -> list[str]:
    name, part, caption = viewed
    lines = [f'print("{name} =")', f"print({name})"]
    if part:
        expr = part.format(**select)
        lines += [f'print("{expr}, the slice on screen ({caption.format(**select)}) =")', f"print({expr})"]
    return lines


def _pytorch(tensors, g, viewed, select, phase, values, seed) -> str:
    needs_numpy = any(t.source == "generated" for t in tensors)
    lines = _header(phase, g, "PyTorch")
    lines += (["import numpy as np"] if needs_numpy else []) + ["import torch", "import torch.nn.functional as F", ""]
    if needs_numpy:
        lines += _generator(values, seed)
    for k, t in enumerate(tensors):
        grad = ", requires_grad=True" if t.name != "grad_out" else ""
        note = f"  # {SHAPES[t.name]} = {t.actual.shape}"
        if t.source == "inline":
            prefix = f"{t.name} = torch.tensor("
            lines.append(prefix + _literal(t.actual, " " * len(prefix)) + f", dtype=torch.float64{grad}){note}")
        elif t.source == "zeros":
            lines.append(f"{t.name} = torch.zeros({t.actual.shape}, dtype=torch.float64{grad}){note}")
        elif t.source == "ones":
            lines.append(f"{t.name} = torch.ones({t.actual.shape}, dtype=torch.float64){note}")
        else:
            lines.append(f"{t.name} = torch.from_numpy(generate({t.actual.shape}, {k})){note}")
            lines += [f"{t.name}[{', '.join(map(str, idx))}] = {v!r}  # typed on the page" for idx, v in t.edits]
            if grad:
                lines.append(f"{t.name}.requires_grad_()")
    lines += ["",
              f"out = {_torch_forward(g)}  # (N, F, Ho, Wo)",
              "out.backward(grad_out)  # dL/dx, dL/dw, dL/db for this grad_out = dL/d out",
              "grad_x, grad_w, grad_b = x.grad, w.grad, b.grad",
              "out = out.detach()"]
    if viewed[0] == "cols" and g.plain:
        lines += [f"# im2col: one row per window (n, i, j), one column per (c, p, q)",
                  f"cols = F.unfold(x.detach(), {(g.KH, g.KW)}, dilation={g.dilation}, padding={g.padding}, "
                  f"stride={g.stride}).transpose(1, 2).reshape(-1, {g.C * g.KH * g.KW})",
                  f"w_mat = w.detach().reshape({g.F}, -1).T  # the kernels as columns",
                  "assert torch.allclose(cols @ w_mat + b.detach(), out.permute(0, 2, 3, 1).reshape(-1, out.shape[1]))"]
    elif viewed[0] == "cols":  # a border of copies or uneven sides: pad first; groups: one block per group
        top, bottom, left, right = g.pads
        mode = {"zeros": "constant"}.get(g.padding_mode, g.padding_mode)
        lines += [f"# im2col: one row per window (n, i, j), one column per (c, p, q)",
                  f"x_pad = F.pad(x.detach(), ({left}, {right}, {top}, {bottom}), mode={mode!r})",
                  f"cols = F.unfold(x_pad, {(g.KH, g.KW)}, dilation={g.dilation}, stride={g.stride})"
                  f".transpose(1, 2).reshape(-1, {g.C * g.KH * g.KW})",
                  f"w_mat = torch.block_diag(*[w.detach()[k * {g.Fg}:(k + 1) * {g.Fg}].reshape({g.Fg}, -1).T "
                  f"for k in range({g.groups})])  # one block per group",
                  "assert torch.allclose(cols @ w_mat + b.detach(), out.permute(0, 2, 3, 1).reshape(-1, out.shape[1]))"]
    lines += ["torch.set_printoptions(precision=4, sci_mode=False)"] + _prints(viewed, select)
    return "\n".join(lines) + "\n"


def _numpy(tensors, g, viewed, select, phase, values, seed) -> str:
    lines = _header(phase, g, "NumPy with convviz")
    lines += ["import numpy as np", "", "import convviz", ""]
    if any(t.source == "generated" for t in tensors):
        lines += _generator(values, seed)
    for k, t in enumerate(tensors):
        note = f"  # {SHAPES[t.name]} = {t.actual.shape}"
        if t.source == "inline":
            prefix = f"{t.name} = np.array("
            lines.append(prefix + _literal(t.actual, " " * len(prefix)) + f", dtype=np.float64){note}")
        elif t.source in ("zeros", "ones"):
            lines.append(f"{t.name} = np.{t.source}({t.actual.shape}){note}")
        else:
            lines.append(f"{t.name} = generate({t.actual.shape}, {k}){note}")
            lines += [f"{t.name}[{', '.join(map(str, idx))}] = {v!r}  # typed on the page" for idx, v in t.edits]
    lines += ["",
              f"out = convviz.{_kind(g)}(x, w, b, {_hyper(g)})  # (N, F, Ho, Wo)",
              f"grad_x, grad_w, grad_b = convviz.{_kind(g)}_backward(x, w, grad_out, {_hyper(g)})"]
    if viewed[0] == "cols":
        (top, bottom, left, right), (sh, sw), (dh, dw) = g.pads, g.stride, g.dilation
        mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[g.padding_mode]
        lines += ["# im2col: one row per window (n, i, j), one column per (c, p, q)",
                  f"x_pad = np.pad(x, ((0, 0), (0, 0), ({top}, {bottom}), ({left}, {right}))"
                  + (f", mode={mode!r})" if mode != "constant" else ")"),
                  f"windows = np.lib.stride_tricks.sliding_window_view(x_pad, ({g.span_h}, {g.span_w}), axis=(2, 3))"
                  f"[:, :, ::{sh}, ::{sw}, ::{dh}, ::{dw}]  # (N, C, Ho, Wo, KH, KW)",
                  f"cols = windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, {g.C * g.KH * g.KW})",
                  (f"w_mat = w.reshape({g.F}, -1).T  # the kernels as columns" if g.groups == 1 else
                   f"w_mat = convviz.engine.kernel_matrix(w, {g.groups})  # one block per group"),
                  "assert np.allclose(cols @ w_mat + b, out.transpose(0, 2, 3, 1).reshape(-1, out.shape[1]))"]
    lines += ["np.set_printoptions(precision=4, suppress=True)"] + _prints(viewed, select)
    return "\n".join(lines) + "\n"
