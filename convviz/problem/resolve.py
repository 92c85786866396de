"""From a problem to a solved ``Convolution``, refusing anything over the limits before a
large array is built; and the checks of a request's page of steps and drawn slice.

Raises ``ProblemError`` only (``convviz.api`` maps it to 422, the CLI to exit 2)."""

from __future__ import annotations

import numpy as np

from ..engine import Geometry, geometry_of
from ..engine.checks import as_float_array
from ..trace import Convolution, Trace, generate_arrays
from .cache import ARRAY_FIELDS, Solved, SolvedCache, problem_key
from .errors import ProblemError
from .limits import Limits, engine_arrays
from .model import ProblemIn


def _invalid(message: str, field: str | None = None) -> ProblemError:
    return ProblemError("invalid_problem", message, field=field)


def _over(message: str) -> ProblemError:
    return ProblemError("limit_exceeded", message)


def _bad_query(message: str, param: str) -> ProblemError:
    return ProblemError("invalid_query", message, param=param)


# Integers a float64 holds exactly: every one up to 2**53; beyond, only some (the rest are rounded).
EXACT_INT = 2**53


def _integer_note(item: int) -> str | None:
    """Why float64 cannot take the integer ``item`` as it is, or None when it can."""
    if -EXACT_INT <= item <= EXACT_INT:
        return None
    if item.bit_length() > 1024:  # beyond the largest float64, about 1.8e308: float() would raise
        digits = int(item.bit_length() * 0.30103) + 1
        return (f"an integer of about {digits} digits, beyond the largest float64 "
                f"({np.finfo(np.float64).max:.3g})")
    if float(item) == item:
        return None  # a large integer float64 happens to hold exactly (a power of two, ...)
    shown = str(item) if item.bit_length() < 100 else format(float(item), ".3g")
    return (f"the integer {shown}, which float64 cannot hold exactly (integers beyond 2**53 = {EXACT_INT:,} are "
            f"rounded): send {float(item)!r} to use the rounded value")


def _first_bad_entry(value, name: str, budget: int = 1_000_000) -> str:
    """Where the first entry that is not a JSON number float64 holds as sent sits, e.g.
    `` (x[0][1] is None)``; '' if none is found within ``budget`` entries."""
    stack = [(value, name)]
    while stack and budget > 0:
        budget -= 1
        item, where = stack.pop()
        if isinstance(item, np.ndarray):
            item = item.tolist()
        if isinstance(item, list):
            stack.extend((sub, f"{where}[{k}]") for k, sub in reversed(list(enumerate(item))))
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            return f" ({where} is {item!r:.40})"
        elif isinstance(item, int) and _integer_note(item):
            return f" ({where} is {_integer_note(item)})"
        elif isinstance(item, float) and not np.isfinite(item):
            return f" ({where} is {item!r})"
    return ""


def _strictly_numbers(value) -> bool:
    """True when every entry of the nested lists ``value`` is a JSON number (no boolean, which
    NumPy would quietly turn into 0 or 1 beside numbers) that float64 holds as sent (no integer
    float64 would round). The innermost lists are checked at C speed (``map``)."""
    rows, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list) and item and isinstance(item[0], list):
            stack.extend(item)
        elif isinstance(item, list):
            rows.append(item)
        else:
            return isinstance(item, float) or (type(item) is int and _integer_note(item) is None)
    for row in rows:
        types = set(map(type, row))
        if not types <= {int, float}:
            return False
        if int in types and max(map(abs, row)) > EXACT_INT:
            if any(type(v) is int and _integer_note(v) for v in row):
                return False
    return True


def _as_array(value, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    """Nested lists -> float64 array with one of ``ndims`` dimensions. x, w, b and grad_out are
    held to the same rules: numbers only (no strings, booleans or nulls), finite, and integers
    only where float64 holds them exactly; the message points at the first entry at fault."""
    try:
        try:
            arr = as_float_array(value, name, ndims)
        except ValueError as exc:
            # integers beyond 64 bits make NumPy fall back to objects; those float64 holds
            # exactly (10**22, 2**64) are numbers like any other
            if "dtype object" not in str(exc) or isinstance(value, np.ndarray) or not _strictly_numbers(value):
                raise
            arr = as_float_array(np.asarray(value, dtype=np.float64), name, ndims)
        if not isinstance(value, np.ndarray) and not _strictly_numbers(value):
            raise ValueError(f"{name} must hold real numbers that float64 can hold as sent")
    except ValueError as exc:
        message = str(exc)
        if "real numbers" in message or "finite" in message:
            message += _first_bad_entry(value, name)
        raise _invalid(message, name) from None
    return arr


def _as_4d(value, name: str) -> np.ndarray:
    """Nested lists -> float64 array (4-D); a 2-D matrix is one sample / kernel of one channel."""
    arr = _as_array(value, name, (4, 2))
    if arr.ndim == 2:
        arr = arr[None, None]
    return arr


def _shape4(shape: list[int], name: str) -> tuple[int, ...]:
    if len(shape) == 2:
        return (1, 1, *shape)
    if len(shape) == 4:
        return tuple(shape)
    raise _invalid(f"{name} must have 4 entries ({'N, C, H, W' if name == 'x_shape' else 'F, C, KH, KW'}) or 2, got {shape}", name)


def _check_size(name: str, shape, limits: Limits) -> None:
    elements = int(np.prod([int(s) for s in shape], dtype=object))
    if elements > limits.max_tensor_elements:
        raise _over(f"{name} would have {elements:,} elements (shape {tuple(shape)}); this server allows at most "
                    f"{limits.max_tensor_elements:,} per tensor (max_tensor_elements)")


# Stride, padding and dilation beyond this are meaningless for any tensor a server can hold, and
# would overflow the int64 index arithmetic of the engine and the traces.
MAX_HYPER = 2**31 - 1


def check_geometry(geo: Geometry, limits: Limits) -> None:
    """Refuse a problem whose tensors or work exceed ``limits``; shapes only, nothing allocated.
    Every array the engine allocates counts (``engine_arrays``), whatever the request shows."""
    for name in ("stride", "pads" if not geo.transposed else "padding", "dilation", "output_padding"):
        value = getattr(geo, name, (0,))
        if max(value) > MAX_HYPER:
            field = "padding" if name == "pads" else name
            raise _invalid(f"{field} must be at most {MAX_HYPER:,} on each side, got {list(value)}", field)
    for name, shape in engine_arrays(geo).items():
        _check_size(name, shape, limits)
    if geo.macs > limits.max_macs:
        raise _over(f"this problem needs {geo.macs:,} multiply-adds per pass (N*F*Ho*Wo*C*KH*KW with shapes x "
                    f"{geo.x_shape}, w {geo.w_shape}, out {geo.out_shape}); this server allows at most "
                    f"{limits.max_macs:,} (max_macs)")


def resolve(problem: ProblemIn, limits: Limits) -> Convolution:
    """Validate, check limits, generate what was not sent, and solve. Raises ``ProblemError``.

    A result that overflows float64 is not an error here: ``Solved`` names it, and only what
    needs it is refused (the overflow policy, README "Overflow")."""
    hyper = _hyper(problem)
    for name in ("x", "w"):
        given, shape = getattr(problem, name), getattr(problem, name + "_shape")
        if given is None and shape is None:
            raise _invalid(f"give {name} (an array) or {name}_shape (to generate it); got neither", name)
        if given is not None and shape is not None:
            raise _invalid(f"give {name} or {name}_shape, not both", name)
    explicit = {}
    if problem.x is not None:
        explicit["x"] = _as_4d(problem.x, "x")
    if problem.w is not None:
        explicit["w"] = _as_4d(problem.w, "w")
    x_shape = explicit["x"].shape if "x" in explicit else _shape4(problem.x_shape, "x_shape")
    w_shape = explicit["w"].shape if "w" in explicit else _shape4(problem.w_shape, "w_shape")
    try:
        geo = geometry_of(x_shape, w_shape, **hyper)
    except ValueError as exc:
        message = str(exc)
        if "input channels" in message:  # it shows 4-D shapes: say which were sent 2-D
            message += _sent_2d(problem, ("x", "w"))
        raise _invalid(message) from None
    check_geometry(geo, limits)

    if problem.b is not None:
        explicit["b"] = _as_array(problem.b, "b", (1,))
    if problem.grad_out is not None:
        explicit["grad_out"] = _as_4d(problem.grad_out, "grad_out")
        if explicit["grad_out"].shape != geo.out_shape:
            sent = np.shape(problem.grad_out)  # as sent: a 2-D grad_out is reported 2-D
            raise _invalid(f"grad_out must have the shape of out, (N, F, Ho, Wo) = {geo.out_shape}, got shape {sent}"
                           + (" (a 2-D grad_out is Ho x Wo of one sample and one kernel: N = F = 1)"
                              if len(sent) == 2 else ""), "grad_out")
    if "x" in explicit and "w" in explicit:
        arrays = explicit  # b -> zeros, grad_out -> ones (Convolution's defaults)
    else:
        arrays = {**generate_arrays(geo, problem.values, problem.seed), **explicit}
    try:  # validation only: a ValueError here is about the request
        conv = Convolution.from_arrays(arrays["x"], arrays["w"], arrays.get("b"), **geo.hyper,
                                       transposed=geo.transposed, **_grad_out_and_update(problem, arrays, explicit))
    except ValueError as exc:
        raise _invalid(str(exc)) from None
    return conv


def _hyper(problem: ProblemIn) -> dict:
    """The settings of the convolution (``geometry_of``'s keywords), with the combinations that
    belong to the other kind of convolution refused."""
    hyper = {"stride": problem.stride, "padding": problem.padding, "dilation": problem.dilation,
             "groups": problem.groups}
    if problem.transposed:
        if problem.padding_mode != "zeros":
            raise _invalid(f"a transposed convolution pads with zeros only (as PyTorch's ConvTranspose2d), got "
                           f"padding_mode {problem.padding_mode!r}; allowed: 'zeros'", "padding_mode")
        return {**hyper, "transposed": True, "output_padding": problem.output_padding}
    if problem.output_padding not in (0, [0, 0]):
        raise _invalid(f"output_padding is for a transposed convolution (transposed: true), got output_padding "
                       f"{problem.output_padding} with transposed false; allowed: 0", "output_padding")
    return {**hyper, "padding_mode": problem.padding_mode}


def _grad_out_and_update(problem: ProblemIn, arrays: dict, explicit: dict) -> dict:
    """grad_out, or the loss that makes it (with its target: sent, generated, or zeros when x and
    w are sent), and the update step's rates: the keywords of ``Convolution.from_arrays``."""
    loss = problem.loss
    out = {"lr": problem.lr, "weight_decay": problem.weight_decay, "loss": loss}
    if loss == "none":
        out["grad_out"] = arrays.get("grad_out")
    elif "grad_out" in explicit:
        raise _invalid(f"give grad_out or loss {loss!r} (which makes grad_out), not both", "grad_out")
    if problem.target is not None:
        if loss != "mse":
            raise _invalid(f"target is used only with loss 'mse' (L = 1/2 sum((out - target)^2)), got loss {loss!r}",
                           "target")
        out["target"] = _as_4d(problem.target, "target")
    elif loss == "mse":
        out["target"] = arrays.get("target")
    return out


def _sent_2d(problem: ProblemIn, names) -> str:
    """A note on the arrays among ``names`` that were sent 2-D, whose shapes a message about
    their 4-D forms would not show."""
    notes = {"x": "N = C = 1", "w": "F = C = 1"}
    sent = [(name, np.shape(getattr(problem, name))) for name in names if getattr(problem, name) is not None]
    return "".join(f" ({name} was sent 2-D, shape {shape}, which means {notes[name]})"
                   for name, shape in sent if len(shape) == 2)


def solve(problem: ProblemIn, limits: Limits, cache: SolvedCache | None = None) -> Solved:
    """``resolve`` through ``cache``: a problem asked for before is not solved again.

    A generated problem is known by its few fields before anything is built; one with explicit
    arrays only once they are validated (then its JSON texts and traces are still reused).
    """
    if cache is None:
        return Solved(resolve(problem, limits))
    conv = None
    if all(getattr(problem, name) is None for name in ARRAY_FIELDS):
        key = problem_key(problem)
    else:
        conv = resolve(problem, limits)
        key = problem_key(problem, conv)
    entry = cache.get(key)
    if entry is not None:
        return entry
    entry = Solved(conv if conv is not None else resolve(problem, limits))
    cache.put(key, entry)
    return entry


def check_page(trace: Trace, start: int, limit: int | None, limits: Limits, *, paged: bool) -> int:
    """Validate ``start`` / ``limit`` against the trace and the limits; return the stop step."""
    total = len(trace)
    if trace.terms_per_step > limits.max_step_terms:
        raise _over(f"each {trace.phase} step of this problem has {trace.terms_per_step:,} terms; this server allows "
                    f"at most {limits.max_step_terms:,} (max_step_terms)")
    if not 0 <= start <= total:
        raise _bad_query(f"start must be between 0 and {total} (the {trace.phase} trace has {total} steps), got {start}",
                         "start")
    if limit is None:
        return total
    if not paged:
        if limit < 1:
            raise _bad_query(f"limit must be at least 1 (or left out for the whole trace), got {limit}", "limit")
        return min(total, start + limit)
    most = max(1, min(limits.max_page_steps, limits.max_page_terms // trace.terms_per_step))
    if not 1 <= limit <= most:
        raise _bad_query(
            f"limit must be between 1 and {most} (at most {limits.max_page_steps} steps and {limits.max_page_terms:,} "
            f"terms per page; {trace.terms_per_step} terms per step here), got {limit}", "limit")
    return min(total, start + limit)


def check_select(geo: Geometry, n: int, f: int, c: int) -> None:
    """The drawn slice: sample ``n``, kernel ``f``, input channel ``c``, each within its axis."""
    for name, value, size, axis in (("n", n, geo.N, "N"), ("f", f, geo.F, "F"), ("c", c, geo.C, "C")):
        if value >= size:
            raise _bad_query(f"{name} must be between 0 and {size - 1} ({axis} = {size}), got {value}", name)
