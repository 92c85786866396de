"""``convviz.check``: right implementations pass, each known mistake is named exactly (and never
for another's numbers), unknown mistakes fail with the right cells and no name, and nothing the
learner's code does crashes the check. Truth: learner-style loops written independently of the
engine (tests/learner_code.py) and PyTorch's autograd where installed."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest

import convviz
from convviz.checking import BATTERY, MISTAKES, Config, check
from convviz.checking.examples import tutorial_backward, tutorial_scatter
from convviz.engine import fast, naive

import learner_code as lc


def codes(report) -> set[str]:
    found = set()
    for f in report.failures:
        if f.diagnosis is not None:
            found |= {f.diagnosis.code, *f.diagnosis.also}
    return found


# --- the reference the check compares with is right ---------------------------------------------

def test_battery_runs_simplest_first_and_is_deterministic():
    names = [c.name for c in BATTERY]
    assert names[0] == "the tutorial's worked example"
    assert BATTERY[0].x_shape == (1, 1, 3, 3) and BATTERY[0].w_shape == (1, 1, 2, 2)
    assert names.index("padding 1") < names.index("stride 2 with a leftover row and column") < names.index(
        "C > 1 (2 input channels)") < names.index("N > 1 (2 samples, 3 kernels)") < names.index("dilation 2")
    # the worked example's values are the page's (values=integers, seed 37): small whole numbers
    pb = BATTERY[0].problem()
    assert np.array_equal(pb.x, np.array([[[[-2, 1, 1], [1, -2, -3], [3, 1, -2]]]]))
    assert np.array_equal(pb.w, np.array([[[[2, 1], [3, -3]]]]))
    for cfg in BATTERY:
        a, b = cfg.problem(), cfg.problem()
        assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("x", "w", "b", "grad_out"))
        assert np.all(a.x == np.round(a.x)) and np.abs(a.x).max() <= 3
    assert check(forward=lc.forward_right).as_dict() == check(forward=lc.forward_right).as_dict()


@pytest.mark.parametrize("cfg", BATTERY, ids=[c.name for c in BATTERY])
def test_expected_values_match_pytorch(cfg):
    torch = pytest.importorskip("torch")
    from convviz.checking.diagnose import Predictions
    pb = cfg.problem()
    pred = Predictions([pb])
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (pb.x, pb.w, pb.b))
    out = torch.nn.functional.conv2d(xt, wt, bt, stride=cfg.stride, padding=cfg.padding, dilation=cfg.dilation)
    grads = torch.autograd.grad(out, (xt, wt, bt), torch.from_numpy(pb.grad_out))
    for name, want in zip(("out", "grad_x", "grad_w", "grad_b"), (out.detach(), *grads)):
        np.testing.assert_allclose(pred.right(name, 0), want.numpy(), rtol=1e-12, atol=1e-12)


# --- right implementations pass -----------------------------------------------------------------

def engine_forward(module):
    return lambda x, w, b, stride=1, padding=0, dilation=1: module.conv2d_forward(
        x, w, b, stride=stride, padding=padding, dilation=dilation)


def engine_backward(module):
    return lambda x, w, grad_out, stride=1, padding=0, dilation=1: module.conv2d_backward(
        x, w, grad_out, stride=stride, padding=padding, dilation=dilation)


@pytest.mark.parametrize("forward, backward", [
    (lc.forward_right, lc.backward_right_scatter),
    (lc.forward_right, lc.backward_right_gather),
    (engine_forward(naive), engine_backward(naive)),
    (engine_forward(fast), engine_backward(fast)),
], ids=["learner scatter", "learner gather", "naive engine", "fast engine"])
def test_right_implementations_pass_every_configuration(forward, backward):
    report = check(forward=forward, backward=backward)
    assert report.ok, str(report)
    assert [name for name, _ in report.skipped] == ["per-axis stride and padding"]  # needs the opt-in
    assert len(report.passed) == len(BATTERY) - 1  # they take dilation=: the dilated ones ran


def test_pytorch_backed_implementation_passes_per_axis_too():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    def forward(x, w, b, stride=1, padding=0, dilation=1):
        return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=stride,
                        padding=padding, dilation=dilation).numpy()

    def backward(x, w, grad_out, stride=1, padding=0, dilation=1):
        xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        bt = torch.zeros(w.shape[0], dtype=torch.float64, requires_grad=True)
        out = F.conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)
        return tuple(g.numpy() for g in torch.autograd.grad(out, (xt, wt, bt), torch.from_numpy(grad_out)))

    report = check(forward=forward, backward=backward, per_axis=True)
    assert report.ok, str(report)
    assert len(report.passed) == len(BATTERY) and not report.skipped


def test_cs231n_style():
    report = check(style="cs231n", forward=lc.conv_forward_naive, backward=lc.conv_backward_naive)
    assert report.ok, str(report)
    skipped = dict(report.skipped)
    assert "per-axis stride and padding" in skipped and "dilation 2" in skipped
    bad = check(style="cs231n", forward=lc.conv_forward_naive, backward=lc.conv_backward_naive_rotated)
    assert not bad.ok and codes(bad) == {"rotated_kernel_in_scatter"}
    assert {f.tensor for f in bad.failures} == {"grad_x"}


def test_cs231n_forward_that_raises_or_returns_no_cache():
    def raises(x, w, b, conv_param):
        raise KeyError("stride")

    report = check(style="cs231n", forward=raises, backward=lc.conv_backward_naive)
    first = [f for f in report.failures if f.config["name"] == BATTERY[0].name]
    assert [f.tensor for f in first] == ["out", "grad_x", "grad_w", "grad_b"]
    assert first[0].message.startswith("KeyError: 'stride' (at test_check.py:")
    assert all(f.message.startswith("not returned: forward raised") and f.diagnosis is None for f in first[1:])
    ran = len(BATTERY) - len(report.skipped)
    assert f"grad_x, grad_w, grad_b: not returned on {ran} configurations (forward raised" in str(report)

    bare = check(style="cs231n", forward=lambda x, w, b, conv_param: lc.conv_forward_naive(x, w, b, conv_param)[0],
                 backward=lc.conv_backward_naive)
    assert "the cs231n style returns (out, cache)" in bare.failures[0].message


def test_functions_without_dilation_skip_those_configurations_and_say_so():
    report = check(forward=lambda x, w, b, stride=1, padding=0: lc.forward_right(x, w, b, stride, padding))
    assert report.ok
    skipped = dict(report.skipped)
    dilated = [c.name for c in BATTERY if c.dilated]
    assert dilated and all("takes no dilation=" in skipped[name] for name in dilated)
    assert "per_axis=True" in skipped["per-axis stride and padding"]
    assert "skipped" in str(report)


def test_per_axis_is_opt_in_and_passes_pairs():
    report = check(forward=lc.forward_pairs, per_axis=True)
    assert report.ok, str(report)
    assert "per-axis stride and padding" in report.passed


# --- each known mistake is named, exactly ---------------------------------------------------------

@pytest.mark.parametrize("name", list(lc.MUTANTS_BACKWARD))
def test_backward_mutant_is_diagnosed_exactly(name):
    code = name.split(" (")[0]
    report = check(backward=lc.MUTANTS_BACKWARD[name])
    assert not report.ok
    assert codes(report) == {code}, str(report)
    # a mistake is proved by numbers: failures where the code crashed (channels_not_swapped indexes
    # w_rot[c, f] out of range unless C = F) stay unnamed, unless the crash is the mistake's own mark
    # (an empty crop); every other failure of the mutant's tensor is explained by it
    proved = [f for f in report.failures if f.tensor == MISTAKES[code].tensor
              and (f.got is not None or "0,0)" in f.message or "0, 0)" in f.message)]
    assert proved
    for f in proved:
        assert f.diagnosis is not None and code in (f.diagnosis.code, *f.diagnosis.also), f.config["name"]
    if code != "channels_not_swapped":
        assert report.failures[0] is proved[0]


@pytest.mark.parametrize("name", list(lc.MUTANTS_FORWARD))
def test_forward_mutant_is_diagnosed_exactly(name):
    report = check(forward=lc.MUTANTS_FORWARD[name])
    assert not report.ok
    assert codes(report) == {name}, str(report)
    assert report.failures[0].diagnosis.code == name


def test_output_size_wrong_says_which_axis_and_what_the_formula_gives():
    report = check(forward=lc.forward_output_size_wrong)
    f = report.failures[0]
    assert f.config["name"] == "padding 1"  # padding 0 sizes are right
    assert f.got.shape == (1, 1, 2, 2) and f.expected.shape == (1, 1, 4, 4) and f.wrong_cells == ()
    text = f.diagnosis.explanation
    assert "yours has 2 rows, but Ho = floor((4 + 2*1 - 1*(3 - 1) - 1) / 1) + 1 = 4" in text
    assert "yours has 2 columns, but Wo =" in text


def test_the_tutorials_backward_is_caught_with_both_of_its_bugs():
    report = check(backward=tutorial_backward)
    by_padding = {}
    for f in report.failures:
        if f.tensor == "grad_x":
            by_padding.setdefault(f.config["padding"][0] > 0, set()).add(f.diagnosis.code)
    assert by_padding == {False: {"crop_empty_at_zero_padding"}, True: {"rotated_kernel_in_scatter"}}
    first = report.failures[0]
    assert first.config["name"] == "the tutorial's worked example" and first.got is None
    assert "could not broadcast" in first.message and "pad:-pad" in first.message
    # grad_w and grad_b are right wherever backward returns; where it raised they are missing, unnamed
    assert all(f.diagnosis is None and f.message.startswith("not returned") for f in report.failures
               if f.tensor != "grad_x")


def test_a_mistakes_name_is_never_given_for_another_mistakes_numbers():
    # the mutants above are each named exactly; here: every pair of mistakes' models differs
    # somewhere in the battery, so no output can satisfy two single-mistake diagnoses at once
    from convviz.checking.diagnose import Predictions, differs, hypotheses
    pred = Predictions([c.problem() for c in BATTERY])
    for tensor in ("out", "grad_x", "grad_w", "grad_b"):
        singles = [h for h in hypotheses(tensor) if sum(v is not None for v in h) == 1]
        for a in singles:
            for b in singles:
                if a == b:
                    continue
                apart = False
                for i in range(len(BATTERY)):
                    pa, pb_ = pred.get(tensor, i, a), pred.get(tensor, i, b)
                    if pa is None or pb_ is None:
                        continue
                    if isinstance(pa, str) or isinstance(pb_, str):
                        apart |= isinstance(pa, str) != isinstance(pb_, str)
                    else:
                        apart |= differs(pa, pb_)
                assert apart, (tensor, a, b)


# --- unknown mistakes: right cells, no name --------------------------------------------------------

@pytest.mark.parametrize("name", list(lc.UNNAMED))
def test_unknown_mistakes_fail_with_the_right_cells_and_no_name(name):
    fn, kind, tensor = lc.UNNAMED[name]
    report = check(**{kind: fn})
    assert not report.ok and codes(report) == set()
    assert {f.tensor for f in report.failures} == {tensor}
    right = lc.forward_right if kind == "forward" else lc.backward_right_gather
    index = ("out", "grad_x", "grad_w", "grad_b").index(tensor) - (kind == "backward")
    for f in report.failures:
        cfg = next(c for c in BATTERY if c.name == f.config["name"])
        pb = cfg.problem()
        hyper = dict(stride=cfg.stride[0], padding=cfg.padding[0], dilation=cfg.dilation[0])
        args = (pb.x, pb.w, pb.b) if kind == "forward" else (pb.x, pb.w, pb.grad_out)
        got = fn(*args, **hyper)
        want = right(*args, **hyper)
        got, want = (got, want) if kind == "forward" else (got[index], want[index])
        assert np.allclose(f.expected, want) and np.array_equal(f.got, got)
        assert f.wrong_cells == tuple(map(tuple, np.argwhere(~np.isclose(got, want, rtol=1e-6, atol=1e-9))))
        assert f.max_abs_error == pytest.approx(np.abs(got - want).max())


def test_unknown_mistakes_say_what_the_difference_means():
    def note(name):
        fn, kind, _ = lc.UNNAMED[name]
        return check(**{kind: fn}).failures[0].first_cell["note"]

    assert "wrong sign" in note("grad_w has the wrong sign")
    assert note("grad_x misses the last kernel row").startswith("it lacks the term grad_out[")
    assert note("bias added once per input channel").startswith("it adds the bias b[")


# --- what the learner's code does never crashes the check ------------------------------------------

def test_exceptions_and_bad_returns_are_failures_not_crashes():
    def raises(x, w, grad_out, stride=1, padding=0):
        raise NotImplementedError("todo: backward")

    report = check(backward=raises)
    assert not report.ok and report.failures[0].message.startswith("NotImplementedError: todo: backward (at ")
    assert "test_check.py" in report.failures[0].message

    pair = check(backward=lambda x, w, grad_out, stride=1, padding=0: (x, w))
    assert "backward returned a tuple of 2; it must return (grad_x, grad_w, grad_b)" in pair.failures[0].message

    ints = check(forward=lambda x, w, b, stride=1, padding=0: lc.forward_right(x, w, b, stride, padding).astype(int))
    assert not ints.ok and "integer dtype" in ints.failures[0].message

    strings = check(forward=lambda x, w, b, stride=1, padding=0: "out")
    assert "not an array of real numbers" in strings.failures[0].message

    lists = check(forward=lambda x, w, b, stride=1, padding=0: lc.forward_right(x, w, b, stride, padding).tolist())
    assert lists.ok  # nested lists of the right numbers are accepted


def test_usage_errors():
    with pytest.raises(ValueError, match="give forward=, backward= or both"):
        check()
    with pytest.raises(ValueError, match="style must be one of 'plain', 'cs231n', got 'keras'"):
        check(forward=lc.forward_right, style="keras")
    with pytest.raises(ValueError, match="give forward= too"):
        check(style="cs231n", backward=lc.conv_backward_naive)
    with pytest.raises(TypeError, match="forward must be a function, got int"):
        check(forward=3)
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0, got -1"):
        check(forward=lc.forward_right, rtol=-1)


def test_tolerance_is_settable():
    def nearly(x, w, b, stride=1, padding=0, dilation=1):
        return lc.forward_right(x, w, b, stride, padding, dilation) * (1 + 1e-8)

    assert check(forward=nearly).ok
    strict = check(forward=nearly, rtol=1e-10, atol=0)
    assert not strict.ok and strict.failures[0].diagnosis is None


# --- the report -------------------------------------------------------------------------------------

def test_failure_fields_and_the_link_to_the_page():
    report = check(backward=lc.MUTANTS_BACKWARD["rotated_kernel_in_scatter"])
    f = report.failures[0]
    assert f.config["name"] == "the tutorial's worked example"
    assert {"x_shape", "w_shape", "stride", "padding", "dilation", "seed"} <= set(f.config)
    assert f.tensor == "grad_x" and f.got.shape == f.expected.shape == (1, 1, 3, 3)
    assert all(len(cell) == 4 for cell in f.wrong_cells) and f.max_abs_error > 0
    # hand-worked: the worked example's right grad_x and the rotated-kernel one
    # grad_out = [[1, 1], [3, 2]], w = [[2, 1], [3, -3]]; scatter with w:
    want = np.array([[2, 3, 1], [9, 7, -1], [9, -3, -6]], dtype=float)
    np.testing.assert_array_equal(f.expected[0, 0], want)
    rot = np.array([[-3, 0, 3], [-8, 6, 8], [3, 8, 4]], dtype=float)  # scatter with rot180(w)
    np.testing.assert_array_equal(f.got[0, 0], rot)
    assert f.wrong_cells[0] == (0, 0, 0, 0)
    fc = f.first_cell
    assert fc["phase"] == "grad_x" and fc["step"] == 0 and fc["expected"] == 2 and fc["got"] == -3
    query = parse_qs(urlsplit(f.url).query)
    assert urlsplit(f.url).path == "/"
    assert {k: v[0] for k, v in query.items() if k != "check"} == {
        "n": "1", "c": "1", "h": "3", "w": "3", "f": "1", "kh": "2", "kw": "2", "stride": "1", "padding": "0",
        "dilation": "1", "values": "integers", "seed": "37", "phase": "grad_x", "step": "0", "sel": "0,0,0"}
    assert np.array_equal(np.array(json.loads(query["check"][0])["grad_x"]), f.got)

    text = str(report)
    assert "FAIL grad_x on \"the tutorial's worked example\"" in text
    assert "rotated_kernel_in_scatter" in text and "expected 2, got -3" in text
    html = report._repr_html_()
    assert "<b>rotated_kernel_in_scatter</b>" in html and "<table>" in html
    assert "the tutorial&#x27;s worked example" in html  # escaped
    d = report.as_dict()
    assert d["ok"] is False and d["failures"][0]["wrong_cells"][0] == [0, 0, 0, 0]
    json.dumps(d)  # plain JSON


def test_convviz_check_is_the_function():
    assert convviz.check is check
    assert convviz.check(forward=lc.forward_right).ok


def test_tutorial_scatter_is_the_rotated_kernel_scatter():
    pb = BATTERY[0].problem()
    dx_pad, dw, db = tutorial_scatter(pb.x, pb.w, pb.grad_out)
    from convviz.checking.mistakes import model_grad_x
    np.testing.assert_array_equal(dx_pad, model_grad_x(pb, "rotated_kernel_in_scatter", None))


def test_small_custom_battery():
    cfg = Config("mine", (1, 1, 4, 4), (1, 1, 2, 2), stride=(2, 2), seed=3)
    report = check(backward=lc.MUTANTS_BACKWARD["stride_not_dilated"], configs=[cfg])
    assert codes(report) == {"stride_not_dilated"}
