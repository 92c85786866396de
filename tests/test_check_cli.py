"""``convviz check`` on the command line: the learner's functions named as module:function or
path/to/file.py:function; exit 0 right, 1 wrong, 2 usage; --json for autograders."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

RIGHT = textwrap.dedent('''
    import sys
    sys.path.insert(0, {tests!r})
    from learner_code import backward_right_scatter as conv_backward, forward_right as conv_forward
    from learner_code import conv_forward_naive, conv_backward_naive
    from learner_code import MUTANTS_BACKWARD
    rotated = MUTANTS_BACKWARD["rotated_kernel_in_scatter"]
    not_a_function = 3
''')


def run(args, cwd):
    return subprocess.run([sys.executable, "-m", "convviz", "check", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture()
def project(tmp_path):
    (tmp_path / "mylayer.py").write_text(RIGHT.format(tests=str(TESTS)))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "broken.py").write_text("import numpy as np\ndef f(:\n")
    return tmp_path


def test_right_functions_exit_0(project):
    done = run(["--backward", "mylayer:conv_backward", "--forward", "mylayer:conv_forward"], project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("convviz check: all 16 configurations right (out, grad_x, grad_w, grad_b)")


def test_a_wrong_function_exits_1_with_the_report(project):
    done = run(["--backward", "mylayer.py:rotated"], project)
    assert done.returncode == 1, done.stderr
    assert "diagnosis: rotated_kernel_in_scatter" in done.stdout
    assert "see it on the page: /?n=1&c=1&h=3&w=3" in done.stdout


def test_json_for_autograders(project):
    done = run(["--backward", "mylayer:rotated", "--json"], project)
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["ok"] is False and report["diagnoses"][0]["code"] == "rotated_kernel_in_scatter"
    first = report["failures"][0]
    assert first["tensor"] == "grad_x" and first["config"]["x_shape"] == [1, 1, 3, 3]
    assert first["wrong_count"] == len(first["wrong_cells"]) == 9


def test_cs231n_style(project):
    done = run(["--style", "cs231n", "--forward", "mylayer:conv_forward_naive", "--backward",
                "mylayer:conv_backward_naive"], project)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("args, message", [
    (["--backward", "nosuchmodule:f"], "could not import 'nosuchmodule': ModuleNotFoundError: No module named 'nosuchmodule'"),
    (["--backward", "mylayer:nothing"], "'mylayer' has no function 'nothing'; it has: "),
    (["--backward", "mylayer:not_a_function"], "mylayer:not_a_function is a int, not a function"),
    (["--backward", "sub/broken.py:f"], "could not import 'sub/broken.py': SyntaxError"),
    (["--backward", "missing/file.py:f"], "no such file: missing/file.py"),
    (["--backward", "justamodule"], "expected MODULE:FUNCTION or path/to/file.py:FUNCTION, got 'justamodule'"),
    ([], "give --forward MODULE:FUNCTION, --backward MODULE:FUNCTION, or both"),
    (["--style", "cs231n", "--backward", "mylayer:conv_backward_naive"], "give forward= too"),
])
def test_usage_errors_exit_2(project, args, message):
    done = run(args, project)
    assert done.returncode == 2, done.stdout
    assert message in done.stderr
    assert done.stdout == ""
