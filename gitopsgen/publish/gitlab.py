"""GitLab REST v4 for ``gitopsgen diff`` in CI: keep one merge-request note up to date (create, then update).

The note is found by a marker (an HTML comment, invisible in the rendered note) among the MR's notes,
page by page (``X-Next-Page``), and only among the notes written by the token's own user (``GET /user``):
anyone can post the marker text (a quote-reply does), and updating their note would fail with HTTP 403.
Plain ``urllib.request``: no dependency, timeouts, no redirects followed
(a redirect would carry the token to wherever it points), one-line ``InputError`` on failure with the
HTTP status and GitLab's message, never the token.

Authentication is ``PRIVATE-TOKEN`` with a project (or personal) access token with ``api`` scope, read
from ``GITOPSGEN_GITLAB_TOKEN``. ``CI_JOB_TOKEN`` cannot write merge-request notes (gitlab-org/gitlab#464591
asks for it; the job token reaches only a short list of endpoints). GitLab limits a note to 1,000,000
characters (``Gitlab::Database::MAX_TEXT_SIZE_LIMIT``; later 1 MiB, gitlab-org/gitlab!18617): bodies are
cut to 1,000,000 UTF-8 bytes, which satisfies both, with a line saying so.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from ..errors import InputError

DEFAULT_MARKER = "<!-- gitopsgen:diff -->"
MAX_NOTE_BYTES = 1_000_000
TIMEOUT_SECONDS = 30.0
MAX_PAGES = 200  # 100 notes a page
TOKEN_VARIABLE = "GITOPSGEN_GITLAB_TOKEN"
TRUNCATED_LINE = "\n\n… truncated: GitLab notes hold at most 1,000,000 characters; see the job log for the rest.\n"

__all__ = ["NoteResult", "ci_environment_reason", "from_ci_environment", "note_body", "upsert_note"]


@dataclass(frozen=True)
class NoteResult:
    action: str  # "created" or "updated"
    note_id: int
    truncated: bool


def note_body(body: str, marker: str = DEFAULT_MARKER, limit: int = MAX_NOTE_BYTES) -> tuple[str, bool]:
    """The marker, then ``body``, cut to ``limit`` UTF-8 bytes with a closing line when too long."""
    text = f"{marker}\n{body}"
    if len(text.encode()) <= limit:
        return text, False
    room = limit - len(TRUNCATED_LINE.encode())
    cut = text.encode()[:room].decode(errors="ignore")
    cut = cut.rsplit("\n", 1)[0] if "\n" in cut[len(marker) + 1 :] else cut
    return cut + TRUNCATED_LINE, True


def upsert_note(
    body: str,
    *,
    api_url: str,
    project_id: str,
    mr_iid: str,
    token: str,
    marker: str = DEFAULT_MARKER,
    timeout: float = TIMEOUT_SECONDS,
) -> NoteResult:
    """Update the MR's note that contains ``marker``, or create one; the body gets the marker prepended."""
    if not marker.strip():
        raise InputError("the note marker is empty")
    if not token:
        raise InputError(f"no GitLab token (set {TOKEN_VARIABLE})")
    api = _api_base(api_url)
    notes_url = (
        f"{api}/projects/{urllib.parse.quote(str(project_id), safe='')}"
        f"/merge_requests/{urllib.parse.quote(str(mr_iid), safe='')}/notes"
    )
    client = _Client(token, timeout)
    text, truncated = note_body(body, marker)
    existing = _find_note(client, notes_url, marker, _token_user_id(client, api))
    if existing is None:
        note = client.request("POST", notes_url, {"body": text})
        action = "created"
    else:
        note = client.request("PUT", f"{notes_url}/{existing}", {"body": text})
        action = "updated"
    if not isinstance(note, dict) or not isinstance(note.get("id"), int):
        raise InputError(f"GitLab answered {action} note without an id: {str(note)[:200]}")
    return NoteResult(action, note["id"], truncated)


def _token_user_id(client: _Client, api: str) -> int:
    """The id of the user the token belongs to (a project access token has its own bot user)."""
    user = client.request("GET", f"{api}/user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise InputError(f"GitLab GET {_redacted(api)}/user: the answer has no user id")
    user_id: int = user["id"]
    return user_id


def _is_ours(note: object, marker: str, user_id: int) -> bool:
    if not isinstance(note, dict) or note.get("system") or marker not in str(note.get("body", "")):
        return False
    author = note.get("author")
    return isinstance(author, dict) and author.get("id") == user_id


def _find_note(client: _Client, notes_url: str, marker: str, user_id: int) -> int | None:
    page = "1"
    for _ in range(MAX_PAGES):
        query = urllib.parse.urlencode({"per_page": 100, "page": page, "sort": "asc", "order_by": "created_at"})
        notes, headers = client.request_with_headers("GET", f"{notes_url}?{query}")
        if not isinstance(notes, list):
            raise InputError("GitLab answered the notes list with something that is not a list")
        for note in notes:
            if _is_ours(note, marker, user_id):
                return int(note["id"])
        page = (headers.get("X-Next-Page") or "").strip()
        if not page or not notes:
            return None
    raise InputError(f"the merge request has more than {MAX_PAGES * 100} notes: not searching further")


def _api_base(api_url: str) -> str:
    parsed = urllib.parse.urlsplit(api_url.strip())
    if parsed.scheme not in ("https", "http") or not parsed.netloc:
        raise InputError(f"GitLab API URL must be http(s)://host/api/v4, not {api_url!r}")
    return api_url.strip().rstrip("/")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError


class _Client:
    def __init__(self, token: str, timeout: float) -> None:
        self._token = token
        self._timeout = timeout
        self._opener = urllib.request.build_opener(_NoRedirect)

    def request(self, method: str, url: str, payload: dict[str, Any] | None = None) -> Any:
        return self.request_with_headers(method, url, payload)[0]

    def request_with_headers(
        self, method: str, url: str, payload: dict[str, Any] | None = None
    ) -> tuple[Any, Mapping[str, str]]:
        data = json.dumps(payload).encode() if payload is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("PRIVATE-TOKEN", self._token)
        req.add_header("Accept", "application/json")
        req.add_header("User-Agent", "gitopsgen")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        where = f"{method} {_redacted(url)}"
        try:
            with self._opener.open(req, timeout=self._timeout) as resp:
                raw = resp.read()
                headers = resp.headers
        except urllib.error.HTTPError as err:
            raise InputError(f"GitLab {where}: HTTP {err.code}: {self._message(err)}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise InputError(f"GitLab {where}: cannot connect: {self._clean(str(reason))}") from None
        try:
            return (json.loads(raw) if raw.strip() else None), headers
        except ValueError:
            raise InputError(f"GitLab {where}: the answer is not JSON") from None

    def _message(self, err: urllib.error.HTTPError) -> str:
        try:
            raw = err.read(20_000)
        except OSError:
            raw = b""
        text = raw.decode(errors="replace").strip()
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if isinstance(doc, dict):
            found = doc.get("message", doc.get("error", doc))
            if isinstance(found, dict | list):
                found = json.dumps(found, ensure_ascii=False, sort_keys=True)
            text = str(found)
            if isinstance(doc.get("error_description"), str):
                text += f" ({doc['error_description']})"
        return self._clean(text or err.reason or "no message")

    def _clean(self, text: str) -> str:
        text = " ".join(str(text).split())
        if self._token:
            text = text.replace(self._token, "[token]")
        return text[:300]


def _redacted(url: str) -> str:
    return urllib.parse.urlsplit(url)._replace(query="").geturl()


def ci_environment_reason(env: Mapping[str, str]) -> str | None:
    """Why the CI environment cannot post a merge-request note, or None when it can."""
    if not env.get("CI_MERGE_REQUEST_IID"):
        return "not a merge request pipeline (CI_MERGE_REQUEST_IID is not set)"
    missing = [v for v in ("CI_API_V4_URL",) if not env.get(v)]
    if not (env.get("CI_MERGE_REQUEST_PROJECT_ID") or env.get("CI_PROJECT_ID")):
        missing.append("CI_PROJECT_ID")
    if missing:
        return f"{', '.join(missing)} not set"
    if not env.get(TOKEN_VARIABLE):
        return (
            f"{TOKEN_VARIABLE} is not set (a project access token with the api scope; "
            "CI_JOB_TOKEN cannot write merge request notes)"
        )
    return None


class NoteTarget(TypedDict):
    """Where :func:`upsert_note` posts: the keyword arguments GitLab CI's variables give."""

    api_url: str
    project_id: str
    mr_iid: str
    token: str


def from_ci_environment(env: Mapping[str, str]) -> NoteTarget | None:
    """``upsert_note`` keyword arguments from GitLab CI's variables; None when not possible
    (``ci_environment_reason`` says why).

    The project is ``CI_MERGE_REQUEST_PROJECT_ID`` (the MR's target project: the MR iid belongs to it,
    also for a merge request from a fork), else ``CI_PROJECT_ID``.
    """
    if ci_environment_reason(env) is not None:
        return None
    return NoteTarget(
        api_url=env["CI_API_V4_URL"],
        project_id=env.get("CI_MERGE_REQUEST_PROJECT_ID") or env["CI_PROJECT_ID"],
        mr_iid=env["CI_MERGE_REQUEST_IID"],
        token=env[TOKEN_VARIABLE],
    )
