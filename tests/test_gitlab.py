"""gitopsgen.publish.gitlab against a real HTTP server on 127.0.0.1 that speaks ``GET /user`` and the three notes
endpoints."""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from gitopsgen.errors import InputError
from gitopsgen.publish.gitlab import (
    DEFAULT_MARKER,
    MAX_NOTE_BYTES,
    ci_environment_reason,
    from_ci_environment,
    note_body,
    upsert_note,
)

TOKEN = "glpat-Secret-Token-123"
BOT = {"id": 4242, "username": "project_42_bot_diff"}  # the user TOKEN belongs to
ALICE = {"id": 17, "username": "alice"}
NOTES = re.compile(r"^/api/v4/projects/(?P<project>[^/]+)/merge_requests/(?P<iid>\d+)/notes(?:/(?P<note>\d+))?$")


@dataclass
class FakeGitLab:
    """In-memory notes of one merge request (project ``platform/fleet``, iid 7); two notes a page.

    Notes added by a test are the token user's (``BOT``) unless ``author`` says otherwise; notes created
    through the API are always ``BOT``'s."""

    notes: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    page_size: int = 2
    fail_with: tuple[int, str] | None = None
    next_id: int = 100

    def add(self, body: str, *, system: bool = False, author: dict[str, Any] = BOT) -> int:
        self.next_id += 1
        self.notes.append({"id": self.next_id, "body": body, "system": system, "author": dict(author)})
        return self.next_id


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self, method: str) -> None:
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        fake.requests.append((method, self.path))
        if url.path.startswith("/redirect/"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.2/elsewhere")
            self.end_headers()
            return
        if self.headers.get("PRIVATE-TOKEN") != TOKEN:
            self._send(401, {"message": "401 Unauthorized"})
            return
        if fake.fail_with:
            status, message = fake.fail_with
            self._send(status, {"message": message})
            return
        if method == "GET" and url.path == "/api/v4/user":
            self._send(200, {**BOT, "name": "diff bot", "state": "active", "bot": True})
            return
        match = NOTES.match(url.path)
        if not match or urllib.parse.unquote(match["project"]) != "platform/fleet" or match["iid"] != "7":
            self._send(404, {"message": "404 Not found"})
            return
        if method == "GET" and match["note"] is None:
            query = urllib.parse.parse_qs(url.query)
            page = int(query.get("page", ["1"])[0])
            start = (page - 1) * fake.page_size
            chunk = fake.notes[start : start + fake.page_size]
            more = start + fake.page_size < len(fake.notes)
            self._send(200, chunk, {"X-Next-Page": str(page + 1) if more else "", "X-Page": str(page)})
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}").get("body")
        if not isinstance(body, str) or self.headers.get("Content-Type") != "application/json":
            self._send(400, {"message": {"body": ["can't be blank"]}})
            return
        if method == "POST" and match["note"] is None:
            fake.add(body)
            self._send(201, fake.notes[-1])
            return
        if method == "PUT" and match["note"] is not None:
            for note in fake.notes:
                if note["id"] == int(match["note"]):
                    note["body"] = body
                    self._send(200, note)
                    return
            self._send(404, {"message": "404 Note Not Found"})
            return
        self._send(405, {"message": "405 Method Not Allowed"})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")


class _Server(http.server.ThreadingHTTPServer):
    fake: FakeGitLab


@pytest.fixture
def gitlab(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeGitLab, str]]:
    for var in ("no_proxy", "NO_PROXY"):  # a CI proxy must not see the loopback requests
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeGitLab()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def call(base: str, body: str, **kwargs: Any) -> Any:
    args = {"api_url": f"{base}/api/v4", "project_id": "platform/fleet", "mr_iid": "7", "token": TOKEN}
    args.update(kwargs)
    return upsert_note(body, timeout=10, **args)


def test_create_then_update_the_same_note(gitlab: tuple[FakeGitLab, str]) -> None:
    fake, base = gitlab
    fake.add("LGTM", author=ALICE)
    first = call(base, "## cluster-2\n\n```diff\n+ replicas: 3\n```\n")
    assert first.action == "created" and not first.truncated
    assert fake.notes[-1]["body"] == f"{DEFAULT_MARKER}\n## cluster-2\n\n```diff\n+ replicas: 3\n```\n"

    second = call(base, "no changes")
    assert second.action == "updated" and second.note_id == first.note_id
    assert [n["body"] for n in fake.notes] == ["LGTM", f"{DEFAULT_MARKER}\nno changes"]
    assert [m for m, _ in fake.requests] == ["GET", "GET", "POST", "GET", "GET", "PUT"]
    assert fake.requests[0][1] == "/api/v4/user"
    assert "/notes?" in fake.requests[1][1] and "per_page=100" in fake.requests[1][1]
    assert "platform%2Ffleet" in fake.requests[1][1]
    assert fake.notes[-1]["author"] == BOT


def test_finds_the_note_on_a_later_page(gitlab: tuple[FakeGitLab, str]) -> None:
    fake, base = gitlab
    for i in range(3):
        fake.add(f"comment {i}")
    fake.add(f"{DEFAULT_MARKER}\nold diff", system=True)  # a system note is never ours
    ours = fake.add(f"{DEFAULT_MARKER}\nold diff")  # page 3 of 2-note pages
    fake.add("later comment")
    result = call(base, "new diff")
    assert result.action == "updated" and result.note_id == ours
    gets = [path for method, path in fake.requests if method == "GET" and "/notes?" in path]
    assert [urllib.parse.parse_qs(urllib.parse.urlsplit(p).query)["page"] for p in gets] == [["1"], ["2"], ["3"]]
    assert len(fake.notes) == 6
    assert fake.notes[4]["body"] == f"{DEFAULT_MARKER}\nnew diff"
    assert fake.notes[3]["body"] == f"{DEFAULT_MARKER}\nold diff"


def test_a_marker_note_by_someone_else_is_left_alone(gitlab: tuple[FakeGitLab, str]) -> None:
    fake, base = gitlab
    quoted = f"> {DEFAULT_MARKER}\n> ## cluster-2\n\nwhy 3 replicas?"  # alice quote-replied an old bot note
    theirs = fake.add(quoted, author=ALICE)
    first = call(base, "diff one")
    assert first.action == "created" and first.note_id != theirs
    second = call(base, "diff two")
    assert second.action == "updated" and second.note_id == first.note_id
    assert [(n["id"], n["author"]["id"], n["body"]) for n in fake.notes] == [
        (theirs, ALICE["id"], quoted),
        (first.note_id, BOT["id"], f"{DEFAULT_MARKER}\ndiff two"),
    ]
    assert [m for m, p in fake.requests if f"/notes/{theirs}" in p] == []


def test_the_token_user_is_looked_up_once_and_its_failure_reported(gitlab: tuple[FakeGitLab, str]) -> None:
    fake, base = gitlab
    for i in range(5):
        fake.add(f"comment {i}", author=ALICE)  # three pages of notes, one user lookup
    call(base, "diff")
    assert [p for _, p in fake.requests].count("/api/v4/user") == 1
    fake.requests.clear()
    fake.fail_with = (403, f"403 Forbidden - token {TOKEN} is revoked")
    with pytest.raises(InputError) as info:
        call(base, "diff")
    message = str(info.value)
    assert message.startswith("GitLab GET http://127.0.0.1:") and "/api/v4/user: HTTP 403: 403 Forbidden" in message
    assert TOKEN not in message and "\n" not in message
    assert fake.requests == [("GET", "/api/v4/user")]


def test_a_different_marker_is_a_different_note(gitlab: tuple[FakeGitLab, str]) -> None:
    fake, base = gitlab
    call(base, "diff")
    call(base, "validate report", marker="<!-- gitopsgen:validate -->")
    assert len(fake.notes) == 2


@pytest.mark.parametrize(
    ("fail_with", "expected"),
    [
        ((403, f"403 Forbidden - token {TOKEN} lacks the api scope"), "HTTP 403: 403 Forbidden - token [token] lacks"),
        ((500, "500 Internal Server Error"), "HTTP 500: 500 Internal Server Error"),
    ],
)
def test_http_errors_are_one_line_without_the_token(
    gitlab: tuple[FakeGitLab, str], fail_with: tuple[int, str], expected: str
) -> None:
    fake, base = gitlab
    fake.fail_with = fail_with
    with pytest.raises(InputError) as info:
        call(base, "x")
    message = str(info.value)
    assert expected in message and TOKEN not in message and "\n" not in message
    assert message.startswith("GitLab GET http://127.0.0.1:")


def test_wrong_token_and_unknown_merge_request(gitlab: tuple[FakeGitLab, str]) -> None:
    _fake, base = gitlab
    with pytest.raises(InputError, match="HTTP 401: 401 Unauthorized") as info:
        call(base, "x", token="glpat-wrong")
    assert "glpat-wrong" not in str(info.value)
    with pytest.raises(InputError, match="HTTP 404: 404 Not found"):
        call(base, "x", mr_iid="8")


def test_redirects_are_not_followed(gitlab: tuple[FakeGitLab, str]) -> None:
    fake, base = gitlab
    with pytest.raises(InputError, match="HTTP 302"):
        call(base, "x", api_url=f"{base}/redirect/api/v4", project_id="1")
    assert len(fake.requests) == 1


def test_unreachable_and_bad_urls() -> None:
    with pytest.raises(InputError, match="must be http"):
        upsert_note("x", api_url="file:///etc/passwd", project_id="1", mr_iid="1", token=TOKEN)
    with pytest.raises(InputError, match="cannot connect") as info:
        # port 9 on loopback: nothing listens there in the test environment
        upsert_note("x", api_url="http://127.0.0.1:9/api/v4", project_id="1", mr_iid="1", token=TOKEN, timeout=5)
    assert TOKEN not in str(info.value)


def test_a_too_long_body_is_truncated(gitlab: tuple[FakeGitLab, str]) -> None:
    fake, base = gitlab
    body = "".join(f"+ line {i} ✓\n" for i in range(120_000))  # about 1.6 MB
    result = call(base, body)
    assert result.truncated
    stored = fake.notes[-1]["body"]
    assert len(stored.encode()) <= MAX_NOTE_BYTES
    assert stored.startswith(DEFAULT_MARKER) and "truncated: GitLab notes hold at most" in stored
    assert "\n+ line 1 ✓\n" in stored
    text, cut = note_body("short")
    assert text == f"{DEFAULT_MARKER}\nshort" and not cut


CI = {
    "CI_API_V4_URL": "https://gitlab.example.com/api/v4",
    "CI_PROJECT_ID": "42",
    "CI_MERGE_REQUEST_IID": "7",
    "GITOPSGEN_GITLAB_TOKEN": TOKEN,
}


def test_from_ci_environment() -> None:
    assert from_ci_environment(CI) == {
        "api_url": "https://gitlab.example.com/api/v4",
        "project_id": "42",
        "mr_iid": "7",
        "token": TOKEN,
    }
    assert ci_environment_reason(CI) is None
    fork = {**CI, "CI_MERGE_REQUEST_PROJECT_ID": "41"}
    assert from_ci_environment(fork)["project_id"] == "41"  # type: ignore[index]

    branch_pipeline = {k: v for k, v in CI.items() if k != "CI_MERGE_REQUEST_IID"}
    assert from_ci_environment(branch_pipeline) is None
    assert "not a merge request pipeline" in (ci_environment_reason(branch_pipeline) or "")

    no_token = {k: v for k, v in CI.items() if k != "GITOPSGEN_GITLAB_TOKEN"}
    no_token["CI_JOB_TOKEN"] = "job-token"
    assert from_ci_environment(no_token) is None
    assert "GITOPSGEN_GITLAB_TOKEN is not set" in (ci_environment_reason(no_token) or "")
    assert "CI_JOB_TOKEN cannot write" in (ci_environment_reason(no_token) or "")

    no_api = {k: v for k, v in CI.items() if k != "CI_API_V4_URL"}
    assert ci_environment_reason(no_api) == "CI_API_V4_URL not set"
