"""The page's Check mode in a real Chromium against a real server: the tutorial's backward as an
example, pasted JSON, a dropped .npy, an .npz chosen as a file, a link made by ``convviz.check``
round-tripped through the URL, and a bad check= reported. Truth: learner-style loops
(tests/learner_code.py) and the hand-worked grad_x of the worked example."""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

import learner_code as lc
from convviz.checking import BATTERY, check
from test_page import browser, open_page, page, wait_until  # noqa: F401 - fixtures

pytestmark = pytest.mark.browser

WORKED = "n=1&c=1&h=3&w=3&f=1&kh=2&kw=2&stride=1&padding=0&dilation=1&values=integers&seed=37"
RIGHT_GRAD_X = [[2, 3, 1], [9, 7, -1], [9, -3, -6]]
ROTATED_GRAD_X = [[-3, 0, 3], [-8, 6, 8], [3, 8, 4]]


def checks(pg, tensor):
    return pg.eval_on_selector_all(f'#stage .cell[data-tensor="{tensor}"]',
                                   "els => els.map(e => [e.dataset.idx, e.dataset.check || null])")


def diagnosis(pg):
    return pg.eval_on_selector("[data-diagnosis]", "e => [e.dataset.code, e.hidden, e.textContent]")


def wait_checked(pg, tensor):
    wait_until(pg, f"document.querySelector('#stage .cell[data-tensor=\"{tensor}\"][data-check]')")


def test_the_tutorials_backward_example(page):
    open_page(page)
    page.select_option("#check-example", "tutorial_backward")
    wait_checked(page, "grad_x")
    wait_until(page, "document.querySelector('[data-diagnosis]').dataset.code")
    code, hidden, text = diagnosis(page)
    assert code == "rotated_kernel_in_scatter" and not hidden and "scatter" in text
    cells = dict(checks(page, "grad_x"))
    assert len(cells) == 9 and set(cells.values()) == {"wrong"}  # every cell differs (hand-worked)
    yours = page.eval_on_selector_all('#stage .cell[data-tensor="grad_x"] .yours', "els => els.map(e => e.textContent)")
    assert yours == ["\u22123", "0", "3", "\u22128", "6", "8", "3", "8", "4"]
    q = parse_qs(urlparse(page.url).query)
    assert q["phase"] == ["grad_x"] and q["step"] == ["0"]  # jumped to the first wrong cell's step
    assert json.loads(q["check"][0]) == {"grad_x": [[[ROTATED_GRAD_X]]][0]}
    assert "First wrong cell of grad_x: [0,0,0,0] (step 1): right 2, yours \u22123, difference \u22125" in \
        page.text_content("#check-first")


def test_pasted_right_numbers_are_all_ok(page):
    open_page(page, WORKED + "&phase=grad_x")
    page.fill("#check-input", json.dumps({"dx": RIGHT_GRAD_X}))
    page.click("#check-run")
    wait_checked(page, "grad_x")
    assert {v for _, v in checks(page, "grad_x")} == {"ok"}
    code, hidden, _ = diagnosis(page)
    assert code == "" and hidden
    assert page.text_content("#check-summary").startswith("All right.")
    page.click("#check-clear")
    wait_until(page, "!document.querySelector('#stage .cell[data-check]')")
    assert "check=" not in page.url


def npy_bytes(arr) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr)
    return buf.getvalue()


def test_a_dropped_npy_and_a_chosen_npz(page):
    cfg = BATTERY[[c.name for c in BATTERY].index("N > 1 (2 samples, 3 kernels)")]
    pb = cfg.problem()
    query = "n=2&c=2&h=4&w=4&f=3&kh=2&kw=2&stride=1&padding=1&dilation=1&values=integers&seed=5&phase=grad_w"
    open_page(page, query)
    # grad_w summed over one sample only: named grad_w_not_summed_over_batch by the server
    _, dw, db = lc.MUTANTS_BACKWARD["grad_w_not_summed_over_batch"](pb.x, pb.w, pb.grad_out, 1, 1)
    data = base64.b64encode(npy_bytes(np.asfortranarray(dw.astype(np.float32)))).decode()
    page.evaluate("""async (b64) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], "grad_w.npy"));
        document.getElementById("check").dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true }));
    }""", data)
    wait_checked(page, "grad_w")
    wait_until(page, "document.querySelector('[data-diagnosis]').dataset.code")
    assert diagnosis(page)[0] == "grad_w_not_summed_over_batch"
    wrong = {idx for idx, v in checks(page, "grad_w") if v == "wrong"}
    right = lc.backward_right_scatter(pb.x, pb.w, pb.grad_out, 1, 1)[1]
    f, c = 0, 0  # the drawn slice
    want = {f"{f},{c},{p},{q}" for p in range(2) for q in range(2) if not np.isclose(dw[f, c, p, q], right[f, c, p, q])}
    assert wrong == want and want

    # an .npz of the right grad_b (deflated), chosen with the file input, joins the submission
    buf = io.BytesIO()
    np.savez_compressed(buf, db=db)
    page.set_input_files("#check-files", files=[{"name": "mine.npz", "mimeType": "application/zip",
                                                  "buffer": buf.getvalue()}])
    wait_until(page, "document.querySelector('#check-summary').textContent.includes('grad_b: right')")
    assert json.loads(parse_qs(urlparse(page.url).query)["check"][0]).keys() == {"grad_w", "grad_b"}


def test_a_link_from_convviz_check_shows_the_same_failure(page):
    report = check(backward=lc.MUTANTS_BACKWARD["stride_not_dilated"])
    f = report.failures[0]
    assert f.config["stride"] == (2, 2)
    page.goto(page.base + f.url)
    wait_checked(page, "grad_x")
    wait_until(page, "document.querySelector('[data-diagnosis]').dataset.code")
    assert diagnosis(page)[0] == "stride_not_dilated"
    wrong = {tuple(map(int, idx.split(","))) for idx, v in checks(page, "grad_x") if v == "wrong"}
    assert wrong == set(f.wrong_cells)
    step = int(parse_qs(urlparse(f.url).query)["step"][0])
    assert page.input_value("#jump") == str(step + 1)


def test_a_bad_check_in_the_url_is_reported(page):
    page.expected_console = []
    open_page(page, WORKED + "&check=%7Bnot%20json")
    wait_until(page, "!document.querySelector('#check-result').hidden")
    assert "The link's check= could not be read" in page.text_content("#check-summary")
    page.fill("#check-input", json.dumps({"grad_q": [1]}))
    page.click("#check-run")
    assert '"grad_q" is not a result convviz checks' in page.text_content("#check-summary")
