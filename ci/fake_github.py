"""A stand-in for the three REST calls of the pull-request workflow's comment step, on 127.0.0.1,
for `make ci-local` (act points `github-script` at it through GITHUB_API_URL).

    python ci/fake_github.py STATE.json PORT_FILE

Answers listComments (GET /repos/O/R/issues/N/comments), createComment (POST, same path) and
updateComment (PATCH /repos/O/R/issues/comments/ID); everything else is 404. The comments and
every request (method, path) are kept in STATE.json, rewritten atomically after each request,
so that the script that started it can check what the workflow did. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

LIST_OR_CREATE = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$")
UPDATE = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$")
LOCK = threading.Lock()


class State:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.data = (
            json.loads(path.read_text()) if path.exists() else {"comments": [], "requests": []}
        )

    def save(self) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".state-")
        with os.fdopen(fd, "w") as f:
            json.dump(self.data, f, indent=1)
        os.replace(tmp, self.path)


def handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _reply(self, code: int, body: object) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def _route(self, method: str) -> None:
            with LOCK:  # the state is saved before the reply: a client that got it sees it
                code, body = self._answer(method)
                state.save()
            self._reply(code, body)

        def _answer(self, method: str) -> tuple[int, object]:
            path = self.path.split("?", 1)[0]
            state.data["requests"].append({"method": method, "path": path})
            comments = state.data["comments"]
            listed = LIST_OR_CREATE.match(path)
            updated = UPDATE.match(path)
            if method == "GET" and listed:
                return 200, [c for c in comments if c["issue"] == int(listed[3])]
            if method == "POST" and listed:
                comment = {
                    "id": len(comments) + 1,
                    "issue": int(listed[3]),
                    "body": self._body().get("body", ""),
                    "updates": 0,
                }
                comments.append(comment)
                return 201, comment
            if method == "PATCH" and updated:
                found = next((c for c in comments if c["id"] == int(updated[3])), None)
                if found is None:
                    return 404, {"message": "Not Found"}
                found["body"] = self._body().get("body", "")
                found["updates"] += 1
                return 200, found
            return 404, {"message": "Not Found"}

        def do_GET(self) -> None:  # noqa: N802 (http.server's names)
            self._route("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._route("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._route("PATCH")

        def log_message(self, *args: object) -> None:  # quiet: STATE.json has the requests
            pass

    return Handler


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: fake_github.py STATE.json PORT_FILE", file=sys.stderr)
        return 2
    state = State(Path(argv[0]))
    state.save()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    Path(argv[1]).write_text(str(server.server_address[1]))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
