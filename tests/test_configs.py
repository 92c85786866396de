"""Every configuration of PyTorch's Conv2d and ConvTranspose2d (issue 9): groups, padding as an
int, a pair, four sides, "same" or "valid", the padding modes, and the transposed convolution
with output_padding, in both engines (naive and fast) and the public API.

The truths: PyTorch in float64 (``F.conv2d`` with groups and padding strings, ``F.pad`` in a mode
then ``F.conv2d``, ``F.conv_transpose2d``; autograd for the gradients), and, where torch is not
installed as well as where it is, references written here from the definitions (the border a
mode copies, the transposed convolution as each input cell stamping the kernel) with central
finite differences for the gradients. Acceptance is tested both ways: a configuration PyTorch
refuses is refused here with ValueError, and one PyTorch accepts is accepted, with out's shape.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import convviz
from convviz.engine import Geometry, TransposedGeometry, fast, fold, naive, pad_input

try:
    import torch
    import torch.nn.functional as TF
except ImportError:  # the references below still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch is the reference here")
ENGINES = [pytest.param(naive, id="naive"), pytest.param(fast, id="fast")]
MODES = ("zeros", "reflect", "replicate", "circular")
TORCH_MODE = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


# ---------------------------------------------------------------------------------------------
# References from the definitions (no engine code)
# ---------------------------------------------------------------------------------------------

def pair(v):
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def sides(padding, KH, KW, dilation):
    """(top, bottom, left, right) as PyTorch reads padding: "same" puts the odd one at the end."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        dh, dw = pair(dilation)
        th, tw = dh * (KH - 1), dw * (KW - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    if isinstance(padding, (list, tuple)) and len(padding) == 4:
        return tuple(padding)
    ph, pw = pair(padding)
    return (ph, ph, pw, pw)


def copied(pos, before, after, size, mode):
    """Which cell of an axis of ``size`` cells position ``pos`` of the padded axis holds, or None;
    ``before`` / ``after`` cells of border on each side, a negative one cropping that many cells."""
    if mode == "circular":  # F.pad crops first, then wraps around the cells left
        first = max(-before, 0)
        return first + (pos - max(before, 0)) % (size - first - max(-after, 0))
    k = pos - before  # 0 = the first cell of x: reflect and replicate read uncropped x
    if 0 <= k < size:
        return k
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if k < 0 else size - 1
    # reflect: mirror about the edge cell, which is not repeated
    return -k if k < 0 else 2 * (size - 1) - k


def ref_conv(x, w, b, stride, padding, dilation, groups, mode):
    """out[n,f,i,j] = b[f] + sum over the channels of f's group and the taps, x read through the border."""
    N, C, H, W = x.shape
    F, Cg, KH, KW = w.shape
    (sh, sw), (dh, dw) = pair(stride), pair(dilation)
    top, bottom, left, right = sides(padding, KH, KW, dilation)
    Ho = (H + top + bottom - dh * (KH - 1) - 1) // sh + 1
    Wo = (W + left + right - dw * (KW - 1) - 1) // sw + 1
    out = np.zeros((N, F, Ho, Wo)) + (0 if b is None else b[None, :, None, None])
    Fg = F // groups
    for n, f, i, j in np.ndindex(N, F, Ho, Wo):
        for cg, p, q in np.ndindex(Cg, KH, KW):
            r = copied(i * sh + p * dh, top, bottom, H, mode)
            s = copied(j * sw + q * dw, left, right, W, mode)
            if r is not None and s is not None:
                out[n, f, i, j] += x[n, (f // Fg) * Cg + cg, r, s] * w[f, cg, p, q]
    return out


def ref_transposed(x, w, b, stride, padding, output_padding, dilation, groups):
    """ConvTranspose2d by its definition: x[n,c,i,j] * w[c,fg,p,q] lands on out row i*sh - ph + p*dh."""
    N, C, H, W = x.shape
    _, Fg, KH, KW = w.shape
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = pair(stride), pair(padding), pair(output_padding), pair(dilation)
    Ho = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1
    Wo = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1
    out = np.zeros((N, Fg * groups, Ho, Wo)) + (0 if b is None else b[None, :, None, None])
    Cg = C // groups
    for n, c, i, j in np.ndindex(N, C, H, W):
        for fg, p, q in np.ndindex(Fg, KH, KW):
            u, t = i * sh - ph + p * dh, j * sw - pw + q * dw
            if 0 <= u < Ho and 0 <= t < Wo:
                out[n, (c // Cg) * Fg + fg, u, t] += x[n, c, i, j] * w[c, fg, p, q]
    return out


def central_differences(forward, arrays, grad_out, step=1e-6):
    """d/d(entry) of L = sum(forward(*arrays) * grad_out), for every entry of every array. L is
    linear in each entry, so only rounding is left (about eps * |L| / step)."""
    grads = []
    for k, arr in enumerate(arrays):
        g = np.zeros(arr.shape)
        for idx in np.ndindex(arr.shape):
            plus = [a.copy() for a in arrays]
            minus = [a.copy() for a in arrays]
            plus[k][idx] += step
            minus[k][idx] -= step
            g[idx] = (np.sum(forward(*plus) * grad_out) - np.sum(forward(*minus) * grad_out)) / (2 * step)
        grads.append(g)
    return grads


def close(a, b, tol=1e-9):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and np.allclose(a, b, rtol=tol, atol=tol * max(1.0, float(np.abs(b).max(initial=0))))


# ---------------------------------------------------------------------------------------------
# Strategies: valid configurations
# ---------------------------------------------------------------------------------------------

@st.composite
def conv_configs(draw, max_size=6):
    groups = draw(st.integers(1, 3))
    Cg, Fg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    N, H, W = draw(st.integers(1, 2)), draw(st.integers(1, max_size)), draw(st.integers(1, max_size))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode = draw(st.sampled_from(MODES))
    # "crop": four sides, one of them negative (the modes that copy x only; F.pad crops there)
    kind = draw(st.sampled_from(["int", "pair", "four", "same", "valid"] + (["crop"] * 2 if mode != "zeros" else [])))
    stride = (1, 1) if kind == "same" else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    limit_h = H - 1 if mode == "reflect" else (H if mode == "circular" else 3)
    limit_w = W - 1 if mode == "reflect" else (W if mode == "circular" else 3)
    low = 0 if mode == "zeros" else -3  # negative sides crop in the modes that copy x (F.pad)
    ph, ph2 = draw(st.integers(low, min(3, limit_h))), draw(st.integers(low, min(3, limit_h)))
    pw, pw2 = draw(st.integers(low, min(3, limit_w))), draw(st.integers(low, min(3, limit_w)))
    padding = {"int": min(ph, pw), "pair": [ph, pw], "four": [ph, ph2, pw, pw2], "same": "same", "valid": "valid",
               "crop": [ph, ph2, pw, pw2]}[kind]
    if kind == "crop":
        padding[draw(st.integers(0, 3))] = -draw(st.integers(1, 2))
    top, bottom, left, right = sides(padding, KH, KW, dilation)
    if mode == "reflect":
        assume(max(top, bottom) < H and max(left, right) < W)
    if mode == "circular":  # wraps around the cells the crop leaves (beyond that PyTorch has no defined answer)
        kept_h, kept_w = H + min(top, 0) + min(bottom, 0), W + min(left, 0) + min(right, 0)
        assume(max(top, bottom) <= kept_h and max(left, right) <= kept_w)
    assume(H + top + bottom >= dilation[0] * (KH - 1) + 1 and W + left + right >= dilation[1] * (KW - 1) + 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((N, groups * Cg, H, W))
    w = rng.standard_normal((groups * Fg, Cg, KH, KW))
    b = rng.standard_normal(groups * Fg)
    hyper = {"stride": list(stride) if draw(st.booleans()) else tuple(stride), "padding": padding,
             "dilation": dilation, "groups": groups, "padding_mode": mode}
    Ho = (H + top + bottom - dilation[0] * (KH - 1) - 1) // stride[0] + 1
    Wo = (W + left + right - dilation[1] * (KW - 1) - 1) // stride[1] + 1
    grad_out = rng.standard_normal((N, groups * Fg, Ho, Wo))
    return x, w, b, grad_out, hyper


@st.composite
def transposed_configs(draw):
    groups = draw(st.integers(1, 3))
    Cg, Fg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    N, H, W = draw(st.integers(1, 2)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    KH, KW = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    output_padding = (draw(st.integers(0, max(stride[0], dilation[0]) - 1)),
                      draw(st.integers(0, max(stride[1], dilation[1]) - 1)))
    Ho = (H - 1) * stride[0] - 2 * padding[0] + dilation[0] * (KH - 1) + output_padding[0] + 1
    Wo = (W - 1) * stride[1] - 2 * padding[1] + dilation[1] * (KW - 1) + output_padding[1] + 1
    assume(Ho >= 1 and Wo >= 1)
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    x = rng.standard_normal((N, groups * Cg, H, W))
    w = rng.standard_normal((groups * Cg, Fg, KH, KW))
    b = rng.standard_normal(groups * Fg)
    grad_out = rng.standard_normal((N, groups * Fg, Ho, Wo))
    hyper = {"stride": stride, "padding": padding, "output_padding": output_padding, "dilation": dilation,
             "groups": groups}
    return x, w, b, grad_out, hyper


# ---------------------------------------------------------------------------------------------
# Values and gradients
# ---------------------------------------------------------------------------------------------

def torch_conv(x, w, b, grad_out, hyper):
    """out, grad_x, grad_w, grad_b from PyTorch: F.conv2d (groups, padding strings) in zeros mode,
    F.pad in the mode (PyTorch's own sides for "same", taken from nn.Conv2d) then F.conv2d otherwise."""
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    padding, mode = hyper["padding"], hyper["padding_mode"]
    common = {"stride": tuple(hyper["stride"]), "dilation": tuple(hyper["dilation"]), "groups": hyper["groups"]}
    four = isinstance(padding, list) and len(padding) == 4
    if mode == "zeros" and not four:
        out = TF.conv2d(xt, wt, bt, padding=padding if isinstance(padding, (int, str)) else tuple(padding), **common)
    else:
        if four:
            top, bottom, left, right = padding
            torch_sides = (left, right, top, bottom)
        else:
            layer = torch.nn.Conv2d(x.shape[1], w.shape[0], w.shape[2:], padding=padding if isinstance(padding, (int, str))
                                    else tuple(padding), padding_mode=mode, **common)
            torch_sides = tuple(layer._reversed_padding_repeated_twice)
        out = TF.conv2d(TF.pad(xt, torch_sides, mode=TORCH_MODE[mode]), wt, bt, **common)
    out.backward(torch.tensor(grad_out))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


@needs_torch
@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conv_configs())
def test_conv_matches_torch_in_every_configuration(engine, case):
    x, w, b, grad_out, hyper = case
    want = torch_conv(x, w, b, grad_out, hyper)
    got = (engine.conv2d_forward(x, w, b, **hyper), *engine.conv2d_backward(x, w, grad_out, **hyper))
    for name, g, t in zip(("out", "grad_x", "grad_w", "grad_b"), got, want):
        assert close(g, t), (name, hyper)
    assert close(engine.grad_x_scatter(x, w, grad_out, **hyper), want[1])


@needs_torch
@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(transposed_configs())
def test_transposed_matches_torch_in_every_configuration(engine, case):
    x, w, b, grad_out, hyper = case
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    out = TF.conv_transpose2d(xt, wt, bt, **hyper)
    out.backward(torch.tensor(grad_out))
    assert close(engine.conv_transpose2d(x, w, b, **hyper), out.detach().numpy()), hyper
    grads = engine.conv_transpose2d_backward(x, w, grad_out, **hyper)
    for name, g, t in zip(("grad_x", "grad_w", "grad_b"), grads, (xt.grad, wt.grad, bt.grad)):
        assert close(g, t.numpy()), (name, hyper)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conv_configs(max_size=4))
def test_conv_matches_the_definition_and_finite_differences(case):
    """Without PyTorch: out against the definition, every gradient against central differences of it."""
    x, w, b, grad_out, hyper = case
    args = (hyper["stride"], hyper["padding"], hyper["dilation"], hyper["groups"], hyper["padding_mode"])
    assert close(fast.conv2d_forward(x, w, b, **hyper), ref_conv(x, w, b, *args))
    fd = central_differences(lambda xx, ww, bb: ref_conv(xx, ww, bb, *args), (x, w, b), grad_out)
    for name, g, want in zip(("grad_x", "grad_w", "grad_b"), fast.conv2d_backward(x, w, grad_out, **hyper), fd):
        assert close(g, want, tol=1e-6), (name, hyper)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(transposed_configs())
def test_transposed_matches_the_definition_and_finite_differences(case):
    x, w, b, grad_out, hyper = case
    args = (hyper["stride"], hyper["padding"], hyper["output_padding"], hyper["dilation"], hyper["groups"])
    assert close(fast.conv_transpose2d(x, w, b, **hyper), ref_transposed(x, w, b, *args))
    fd = central_differences(lambda xx, ww, bb: ref_transposed(xx, ww, bb, *args), (x, w, b), grad_out)
    for name, g, want in zip(("grad_x", "grad_w", "grad_b"), fast.conv_transpose2d_backward(x, w, grad_out, **hyper), fd):
        assert close(g, want, tol=1e-6), (name, hyper)


@pytest.mark.parametrize("kind", ["rows", "windows"])
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture])
@given(case=transposed_configs())
def test_transposed_runs_the_duals_tuned_passes(monkeypatch, kind, case):
    """Where its dual is tuned (one group; groups in "rows") the transposed
    convolution runs the dual's passes (forward: the dual's grad_x; backward: the dual's forward
    and grad_w), in either formulation, whatever ``formulation`` would pick: against the
    definition and the naive loops, output_padding beyond the stride included (the dual's
    output then has rows x does not)."""
    x, w, b, grad_out, hyper = case
    monkeypatch.setattr(fast, "formulation", lambda geo: kind)
    args = (hyper["stride"], hyper["padding"], hyper["output_padding"], hyper["dilation"], hyper["groups"])
    assert close(fast.conv_transpose2d(x, w, b, **hyper), ref_transposed(x, w, b, *args))
    for name, got, want in zip(("grad_x", "grad_w", "grad_b"), fast.conv_transpose2d_backward(x, w, grad_out, **hyper),
                               naive.conv_transpose2d_backward(x, w, grad_out, **hyper)):
        assert got.shape == want.shape and close(got, want), (name, hyper)


def test_transposed_rows_with_output_padding_beyond_the_stride():
    """stride 1, dilation 3, output_padding 2: the dual convolution's output has 2 more rows
    and columns than x, which the tuned backward must crop (and the forward must read as zeros)."""
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(2)
    hyper = dict(stride=1, padding=1, output_padding=2, dilation=3)
    assert fast.formulation(TransposedGeometry.from_shapes(x.shape, w.shape, **hyper).dual) == "rows"
    out = fast.conv_transpose2d(x, w, b, **hyper)
    assert close(out, ref_transposed(x, w, b, (1, 1), (1, 1), (2, 2), (3, 3), 1))
    grad_out = rng.standard_normal(out.shape)
    for got, want in zip(fast.conv_transpose2d_backward(x, w, grad_out, **hyper),
                         naive.conv_transpose2d_backward(x, w, grad_out, **hyper)):
        assert got.shape == want.shape and close(got, want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conv_configs())
def test_naive_equals_fast_with_the_artifacts(case):
    x, w, b, grad_out, hyper = case
    assert close(naive.conv2d_forward(x, w, b, **hyper), fast.conv2d_forward(x, w, b, **hyper))
    for a, c in zip(naive.conv2d_backward(x, w, grad_out, **hyper), fast.conv2d_backward(x, w, grad_out, **hyper)):
        assert close(a, c)
    gxp = naive.grad_x_pad(x, w, grad_out, **hyper)
    assert close(gxp, fast.grad_x_pad(x, w, grad_out, **hyper))
    # the fold of grad_x_pad is grad_x in the modes that copy x; in zeros mode grad_x is its inside
    geo = Geometry.from_shapes(x.shape, w.shape, **hyper)
    if geo.padding_mode == "zeros":
        (top, left) = geo.padding
        inside = gxp[:, :, top:top + geo.H, left:left + geo.W]
    else:
        inside = fold(gxp, geo)
    assert close(inside, fast.conv2d_backward(x, w, grad_out, **hyper)[0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(transposed_configs())
def test_transposed_forward_is_the_duals_grad_x(case):
    """The duality (docs/conventions.md): conv_transpose2d(x, w) is grad_x of conv2d with weight w
    for a grad_out of x (zero rows after it when output_padding >= stride), the input of that
    convolution having the transposed output's size; its grad_x is that convolution's forward."""
    x, w, b, grad_out, hyper = case
    geo = TransposedGeometry.from_shapes(x.shape, w.shape, **hyper)
    dual = geo.dual
    assert dual.x_shape == geo.out_shape and dual.w_shape == geo.w_shape
    assert dual.Ho >= geo.H and dual.Wo >= geo.W
    as_grad_out = np.zeros(dual.out_shape)
    as_grad_out[:, :, :geo.H, :geo.W] = x
    conv_hyper = {k: hyper[k] for k in ("stride", "padding", "dilation", "groups")}
    dual_grad_x = naive.conv2d_backward(np.zeros(dual.x_shape), w, as_grad_out, **conv_hyper)[0]
    assert close(naive.conv_transpose2d(x, w, None, **hyper), dual_grad_x)
    dual_out = naive.conv2d_forward(grad_out, w, None, **conv_hyper)
    assert close(naive.conv_transpose2d_backward(x, w, grad_out, **hyper)[0], dual_out[:, :, :geo.H, :geo.W])


def test_the_public_api_takes_every_setting():
    rng = np.random.default_rng(9)
    x, w, b = rng.standard_normal((2, 4, 5, 5)), rng.standard_normal((6, 2, 2, 2)), rng.standard_normal(6)
    out = convviz.conv2d(x, w, b, padding="same", groups=2, padding_mode="reflect")
    assert out.shape == (2, 6, 5, 5)
    assert close(out, ref_conv(x, w, b, 1, "same", 1, 2, "reflect"))
    grads = convviz.conv2d_backward(x, w, np.ones(out.shape), padding="same", groups=2, padding_mode="reflect")
    assert [g.shape for g in grads] == [x.shape, w.shape, b.shape]
    wt = rng.standard_normal((4, 3, 3, 3))
    up = convviz.conv_transpose2d(x, wt, np.zeros(6), stride=2, padding=1, output_padding=1, groups=2)
    assert up.shape == (2, 6, 10, 10)
    assert close(up, ref_transposed(x, wt, np.zeros(6), 2, 1, 1, 1, 2))
    gx, gw, gb = convviz.conv_transpose2d_backward(x, wt, np.ones(up.shape), stride=2, padding=1, output_padding=1,
                                                   groups=2)
    assert (gx.shape, gw.shape, gb.shape) == (x.shape, wt.shape, (6,))


def test_fold_adds_each_copy_onto_its_source():
    """Hand-worked: one row of 3 cells, reflect padding 2 on each side, x_pad = [x2 x1 | x0 x1 x2 | x1 x0]:
    x0 collects its own cell and the copy at the right end; x1 three cells; x2 two."""
    geo = Geometry.from_shapes((1, 1, 1, 3), (1, 1, 1, 1), padding=[0, 0, 2, 2], padding_mode="reflect")
    grad_x_pad = np.array([[[[1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0, 1000000.0]]]])
    assert fold(grad_x_pad, geo).tolist() == [[[[100.0 + 1000000.0, 10.0 + 1000.0 + 100000.0, 1.0 + 10000.0]]]]
    assert pad_input(np.array([[[[5.0, 6.0, 7.0]]]]), geo).tolist() == [[[[7.0, 6.0, 5.0, 6.0, 7.0, 6.0, 5.0]]]]
    ok, h, v = geo.x_pad_source(0, np.arange(7))
    assert ok.all() and v.tolist() == [2, 1, 0, 1, 2, 1, 0]
    assert geo.copies(1).tolist() == [[2, 6, -1], [3, 1, 5], [4, 0, -1]]


def test_negative_sides_crop_by_hand():
    """One row x0..x4 = [10, 11, 12, 13, 14] (values from PyTorch 2.13's F.pad, worked by hand):
    reflect [-3, 3] crops x0..x2 and mirrors about uncropped x's edge, [x3 x4 x3 x2 x1]; replicate
    [2, -2] keeps x0..x2 and repeats x0; circular [-2, 2] wraps around what is left, [x2 x3 x4 x2 x3]."""
    x = np.array([[[[10.0, 11.0, 12.0, 13.0, 14.0]]]])
    cases = [("reflect", [0, 0, -3, 3], [13, 14, 13, 12, 11], [[-1, -1], [4, -1], [3, -1], [0, 2], [1, -1]]),
             ("replicate", [0, 0, 2, -2], [10, 10, 10, 11, 12],
              [[2, 0, 1], [3, -1, -1], [4, -1, -1], [-1, -1, -1], [-1, -1, -1]]),
             ("circular", [0, 0, -2, 2], [12, 13, 14, 12, 13], [[-1, -1], [-1, -1], [0, 3], [1, 4], [2, -1]])]
    for mode, pads, want, copies in cases:
        geo = Geometry.from_shapes((1, 1, 1, 5), (1, 1, 1, 1), padding=pads, padding_mode=mode)
        assert pad_input(x, geo).tolist() == [[[want]]], mode
        assert geo.copies(1).tolist() == copies, mode
        # each x cell collects the gradients of its copies; a cropped cell no copy reads gets 0
        grad_x_pad = np.array([[[[1.0, 10.0, 100.0, 1000.0, 10000.0]]]])
        folded = [sum(grad_x_pad[0, 0, 0, k] for k in row if k >= 0) for row in copies]
        assert fold(grad_x_pad, geo)[0, 0, 0].tolist() == folded, mode
    # the sizes of the examples, 5x5 and a 3x3 kernel
    assert fast.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=-1, padding_mode="reflect").shape \
        == (1, 1, 1, 1)
    assert naive.conv2d_forward(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=(1, -1),
                                padding_mode="circular").shape == (1, 1, 5, 1)


def test_geometry_sizes_by_hand():
    same_even = Geometry.from_shapes((1, 1, 5, 5), (1, 1, 2, 2), padding="same")
    assert same_even.pads == (0, 1, 0, 1) and (same_even.Ho, same_even.Wo) == (5, 5)
    dil = Geometry.from_shapes((1, 1, 5, 5), (1, 1, 4, 3), padding="same", dilation=(1, 2))
    assert dil.pads == (1, 2, 2, 2)
    depthwise = Geometry.from_shapes((1, 8, 6, 6), (8, 1, 3, 3), padding=1, groups=8)
    assert depthwise.w_shape == (8, 1, 3, 3) and depthwise.w_rot_shape == (8, 1, 3, 3) and depthwise.macs == 8 * 36 * 9
    up = TransposedGeometry.from_shapes((1, 1, 4, 4), (1, 1, 3, 3), stride=2, padding=1, output_padding=1)
    assert (up.Ho, up.Wo) == (8, 8)  # (4 - 1) 2 - 2 + 2 + 1 + 1
    assert up.x_pad_margins == (1, 2, 1, 2) and up.x_pad_shape == (1, 1, 10, 10)
    assert up.grad_out_pad_shape == (1, 1, 10, 10)


# ---------------------------------------------------------------------------------------------
# Acceptance, both ways: what PyTorch refuses is refused (ValueError), what it accepts is accepted
# ---------------------------------------------------------------------------------------------

def accepts(fn):
    """(True, out shape) or (False, message)."""
    try:
        return True, tuple(fn().shape)
    except (ValueError, RuntimeError, TypeError) as exc:
        return False, str(exc)


def mostly(draw, good, bad):
    """A value from ``good`` nine times in ten, else from ``bad``: most drawn settings come near
    the edge of what is allowed, so both answers are common."""
    return draw(bad) if draw(st.integers(0, 9)) == 0 else draw(good)


@st.composite
def raw_channels(draw, transposed=False):
    """(x_shape, w_shape, groups): consistent as a rule, one count off now and then."""
    groups = mostly(draw, st.integers(1, 3), st.integers(0, 4))
    Cg, Fg = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    C, F, Cw = max(groups, 1) * Cg, max(groups, 1) * Fg, Cg
    which = draw(st.integers(0, 5))  # 0: C, 1: F, 2: w's channels off by one
    delta = draw(st.sampled_from([-1, 1]))
    C = max(1, C + delta) if which == 0 else C
    F = max(1, F + delta) if which == 1 else F
    Cw = max(1, Cw + delta) if which == 2 else Cw
    H, W = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if transposed:
        return (1, C, H, W), (C if which != 2 else max(1, C + delta), Fg if which != 1 else Fg + 1, KH, KW), groups
    return (1, C, H, W), (F, Cw, KH, KW), groups


@st.composite
def raw_conv_settings(draw):
    mode = mostly(draw, st.sampled_from(MODES), st.just("bogus"))
    low = -1 if mode == "zeros" else -2  # negative sides: refused in zeros mode, cropping (F.pad) in the others
    side = st.integers(low, 3)
    four = st.integers(0 if mode == "zeros" else low, 3)  # four sides in zeros mode: F.pad's zeros, not conv2d's
    padding = draw(st.one_of(side, st.lists(side, min_size=2, max_size=2),
                             st.lists(four, min_size=4, max_size=4),
                             st.sampled_from(["same", "same", "valid", "full"])))
    pos = st.integers(0, 3)
    pair_or_int = st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3)))
    stride = mostly(draw, st.one_of(st.just(1), pair_or_int), st.one_of(st.just(0), st.tuples(st.just(0), pos)))
    dilation = mostly(draw, st.integers(1, 2), st.one_of(st.just(0), st.tuples(pos, st.just(0))))
    x_shape, w_shape, groups = draw(raw_channels())
    return {"x_shape": x_shape, "w_shape": w_shape, "stride": stride, "dilation": dilation, "groups": groups,
            "padding": padding, "padding_mode": mode}


def torch_conv_accepts(s):
    x, w = torch.zeros(s["x_shape"], dtype=torch.float64), torch.zeros(s["w_shape"], dtype=torch.float64)
    padding = s["padding"]
    common = {"stride": s["stride"], "dilation": s["dilation"], "groups": s["groups"]}

    def run():
        if isinstance(padding, list) and len(padding) == 4:  # four sides: F.pad, then no padding
            if s["padding_mode"] not in MODES:
                raise ValueError("padding_mode")
            top, bottom, left, right = padding
            return TF.conv2d(TF.pad(x, (left, right, top, bottom), mode=TORCH_MODE[s["padding_mode"]]), w, **common)
        layer = torch.nn.Conv2d(s["x_shape"][1], s["w_shape"][0], s["w_shape"][2:], bias=False,
                                padding=tuple(padding) if isinstance(padding, list) else padding,
                                padding_mode=s["padding_mode"], **common).double()
        layer.weight = torch.nn.Parameter(w)  # w's shape as drawn, whatever the layer expected
        return layer(x)

    return accepts(run)


def circular_undefined(s) -> bool:
    """A side of circular padding longer than the cells the negative sides leave on its axis."""
    H, W = s["x_shape"][2:]
    KH, KW = s["w_shape"][2:]
    top, bottom, left, right = sides(s["padding"], KH, KW, s["dilation"])
    return (max(top, bottom) > H + min(top, 0) + min(bottom, 0)
            or max(left, right) > W + min(left, 0) + min(right, 0))


@needs_torch
@settings(max_examples=400, deadline=None)
@given(raw_conv_settings())
def test_conv_refuses_exactly_what_torch_refuses(s):
    """Negative padding included: refused in zeros mode (as conv2d refuses it), cropping in reflect /
    replicate / circular (nn.Conv2d passes it to F.pad). One exception, refused here though PyTorch
    accepts it: a circular side longer than what the crop leaves, where F.pad reads memory it never
    wrote (its answer changes from run to run, and its gradient disagrees with its own forward)."""
    check_acceptance(s)


@st.composite
def cropping_settings(draw):
    """Valid apart from the padding: negative sides near every limit (all cropped, reflect's and
    circular's side limits, the kernel no longer fitting), as an int, a pair or four sides."""
    H, W, KH, KW = draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    mode, groups = draw(st.sampled_from(MODES)), draw(st.sampled_from([1, 2]))
    side = st.integers(-3, 3)
    forms = [side, st.lists(side, min_size=2, max_size=2)]
    if mode != "zeros":  # four sides are F.pad's, whose zeros crop too: convviz keeps conv2d's rule there
        forms.append(st.lists(side, min_size=4, max_size=4))
    return {"x_shape": (1, 2, H, W), "w_shape": (2, 2 // groups, KH, KW), "stride": draw(st.integers(1, 2)),
            "dilation": draw(st.integers(1, 2)), "groups": groups, "padding": draw(st.one_of(*forms)),
            "padding_mode": mode}


@needs_torch
@settings(max_examples=300, deadline=None)
@given(cropping_settings())
def test_negative_sides_are_refused_exactly_where_torch_refuses_them(s):
    check_acceptance(s)


def check_acceptance(s):
    """convviz accepts ``s`` exactly when PyTorch does, with out's shape, but for circular_undefined."""
    want_ok, want = torch_conv_accepts(s)
    x, w = np.zeros(s["x_shape"]), np.zeros(s["w_shape"])
    hyper = {k: s[k] for k in ("stride", "padding", "dilation", "groups", "padding_mode")}
    got_ok, got = accepts(lambda: fast.conv2d_forward(x, w, None, **hyper))
    if not got_ok:
        # refused as a ValueError whose message says what was received
        with pytest.raises(ValueError):
            naive.conv2d_forward(x, w, None, **hyper)
    if s["padding_mode"] == "circular" and want_ok and circular_undefined(s):
        assert not got_ok and "reads memory it never wrote" in got, (got, s)
        return
    assert got_ok == want_ok, f"torch: {want!r}; convviz: {got!r}; settings {s}"
    if got_ok:
        assert got == want


@st.composite
def raw_transposed_settings(draw):
    pos = st.integers(1, 3)
    stride = mostly(draw, st.one_of(pos, st.tuples(pos, pos)), st.one_of(st.just(0), st.tuples(pos, st.just(0))))
    dilation = mostly(draw, st.one_of(pos, st.tuples(pos, pos)), st.one_of(st.just(0), st.tuples(st.just(0), pos)))
    side = st.integers(0, 3)
    padding = mostly(draw, st.one_of(side, st.tuples(side, side)),
                     st.one_of(st.just(-1), st.sampled_from(["same", "valid"]),
                               st.lists(st.integers(0, 2), min_size=4, max_size=4)))
    output_padding = mostly(draw, st.one_of(st.integers(0, 2), st.tuples(st.integers(0, 2), st.integers(0, 2))),
                            st.just(-1))
    x_shape, w_shape, groups = draw(raw_channels(transposed=True))
    return {"x_shape": x_shape, "w_shape": w_shape, "stride": stride, "dilation": dilation, "padding": padding,
            "output_padding": output_padding, "groups": groups}


@needs_torch
@settings(max_examples=400, deadline=None)
@given(raw_transposed_settings())
def test_transposed_refuses_exactly_what_torch_refuses(s):
    x, w = np.zeros(s["x_shape"]), np.zeros(s["w_shape"])
    hyper = {k: s[k] for k in ("stride", "padding", "output_padding", "dilation", "groups")}
    want_ok, want = accepts(lambda: TF.conv_transpose2d(torch.zeros(s["x_shape"], dtype=torch.float64),
                                                        torch.zeros(s["w_shape"], dtype=torch.float64), **{
                                                            k: (list(v) if isinstance(v, list) else v)
                                                            for k, v in hyper.items()}))
    got_ok, got = accepts(lambda: fast.conv_transpose2d(x, w, None, **hyper))
    if not got_ok:
        with pytest.raises(ValueError):
            naive.conv_transpose2d(x, w, None, **hyper)
    assert got_ok == want_ok, f"torch: {want!r}; convviz: {got!r}; settings {s}"
    if got_ok:
        assert got == want


@pytest.mark.parametrize("call, fragment", [
    (lambda: Geometry.from_shapes((1, 1, 5, 5), (1, 1, 3, 3), stride=2, padding="same"), "padding 'same' needs stride 1"),
    (lambda: Geometry.from_shapes((1, 1, 5, 5), (1, 1, 3, 3), padding="full"), "'same' or 'valid', got 'full'"),
    (lambda: Geometry.from_shapes((1, 4, 5, 5), (3, 2, 3, 3), groups=2), "must split evenly into groups=2"),
    (lambda: Geometry.from_shapes((1, 4, 5, 5), (4, 1, 3, 3), groups=2), "x must have 1 x 2 = 2 channels, but x has 4"),
    (lambda: Geometry.from_shapes((1, 1, 3, 3), (1, 1, 3, 3), padding=3, padding_mode="reflect"),
     "top padding is 3 but H = 3; allowed: at most 2"),
    (lambda: Geometry.from_shapes((1, 1, 3, 3), (1, 1, 3, 3), padding=4, padding_mode="circular"),
     "wraps around at most once: top padding is 4 but H = 3; allowed: at most 3"),
    (lambda: Geometry.from_shapes((1, 1, 3, 3), (1, 1, 3, 3), padding_mode="mirror"), "padding_mode must be one of"),
    (lambda: Geometry.from_shapes((1, 1, 5, 5), (1, 1, 1, 1), padding=-1), "a negative side crops x, allowed with"),
    (lambda: Geometry.from_shapes((1, 1, 5, 5), (1, 1, 1, 1), padding=[0, 0, -1, 0]),
     "padding must be >= 0 on every side, got [0, 0, -1, 0]"),
    (lambda: Geometry.from_shapes((1, 1, 5, 5), (1, 1, 1, 1), padding=[-3, -2, 0, 0], padding_mode="replicate"),
     "leaves 0 rows of x_pad (H = 5)"),
    (lambda: Geometry.from_shapes((1, 1, 5, 5), (1, 1, 1, 1), padding=[0, 0, 3, -3], padding_mode="circular"),
     "left padding is 3 but only 2 of W = 5 are left after the crop"),
    (lambda: Geometry.from_shapes((1, 1, 5, 5), (1, 1, 1, 1), padding=[-1, 5, 0, 0], padding_mode="reflect"),
     "bottom padding is 5 but H = 5; allowed: at most 4"),
    (lambda: Geometry.from_shapes((1, 1, 3, 3), (1, 1, 3, 3), groups=0), "groups must be an integer >= 1, got 0"),
    (lambda: TransposedGeometry.from_shapes((1, 1, 3, 3), (1, 1, 3, 3), stride=2, output_padding=2),
     "allowed on the vertical axis: 0 to 1"),
    (lambda: TransposedGeometry.from_shapes((1, 1, 3, 3), (1, 1, 3, 3), padding="same"), "integer >= 0 or a pair"),
    (lambda: TransposedGeometry.from_shapes((1, 1, 1, 1), (1, 1, 1, 1), padding=1), "the output would be -1x-1"),
    (lambda: TransposedGeometry.from_shapes((1, 2, 3, 3), (1, 1, 3, 3)), "w has 1 input channels on its first axis"),
    (lambda: naive.conv_transpose2d(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 1, 1)), np.zeros(2)), "b must have shape (1,)"),
])
def test_refusals_say_what_was_received_and_what_is_allowed(call, fragment):
    with pytest.raises(ValueError) as err:
        call()
    assert fragment in str(err.value)
