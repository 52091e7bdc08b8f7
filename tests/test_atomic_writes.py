"""All-or-nothing writes of ``gitopsgen.generate.treewrite.apply``: fault injection at every filesystem write, the lock.

Each fault test counts the writes ``apply`` makes for a realistic plan (``generate`` after an intent edit
that changes, adds and deletes files; ``add-cluster``), then for every k makes the k-th write fail:
an ``OSError`` instead of the write, a real SIGINT right after it, or a SIGKILL of a forked writer
before it (then the next run's lock recovers from the journal). Before the commit point the tree must
be byte-identical to before (contents, modes, directories, no leftovers); from it on, exactly the
planned tree.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gitopsgen.errors import InputError
from gitopsgen.generate import generator, intentfiles, tree, treewrite

# every function through which treewrite.py writes, creates, renames or removes
OPS = ("open", "write", "fsync", "fchmod", "ftruncate", "close", "replace", "unlink", "mkdir", "rmdir")

Snapshot = tuple[frozenset[str], dict[str, tuple[int, str]]]


def snapshot(root: Path) -> Snapshot:
    """Directories, and per file its mode and content hash (``.git`` left out)."""
    dirs: set[str] = set()
    files: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root and ".git" in dirnames:
            dirnames.remove(".git")
        rel = Path(dirpath).relative_to(root)
        dirs.add(rel.as_posix())
        for name in filenames:
            path = Path(dirpath) / name
            mode = stat.S_IMODE(path.lstat().st_mode)
            files[(rel / name).as_posix()] = (mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return frozenset(dirs), files


def planned(before: Snapshot, p: tree.Plan) -> Snapshot:
    """What ``before`` becomes when ``p`` is written: new files 0644, changed ones keep their mode,
    directories emptied by deletions pruned, parents of new files created."""
    dirs, files = set(before[0]), dict(before[1])
    for rel in p.delete:
        del files[rel]
    for rel, text in p.write.items():
        mode = files[rel][0] if rel in files else 0o644
        files[rel] = (mode, hashlib.sha256(text.encode()).hexdigest())
        for parent in Path(rel).parents:
            dirs.add(parent.as_posix())
    deleted = [Path(rel) for rel in p.delete]
    kept: set[str] = set()
    for d in sorted(dirs, key=lambda d: -len(Path(d).parts)):  # deepest first, like the pruning
        touched = any(Path(d) in rel.parents for rel in deleted)
        occupied = any(Path(d) in Path(f).parents for f in files) or any(Path(d) in Path(k).parents for k in kept)
        if d == "." or not touched or occupied:
            kept.add(d)
    return frozenset(kept), files


class Faults:
    """Wraps the ``os`` functions of OPS; ``action(n, name, args)`` runs before the n-th call
    (raise to make it fail), ``after(n)`` after it."""

    def __init__(
        self,
        action: Callable[[int, str, tuple[object, ...]], None] = lambda n, name, args: None,
        after: Callable[[int], None] = lambda n: None,
    ) -> None:
        self.n = 0
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.action, self.after = action, after

    @contextmanager
    def installed(self) -> Iterator[Faults]:
        with pytest.MonkeyPatch.context() as mp:
            for name in OPS:
                mp.setattr(os, name, self._wrap(name, getattr(os, name)))
            yield self

    def _wrap(self, name: str, real: Callable[..., object]) -> Callable[..., object]:
        def op(*args: object, **kwargs: object) -> object:
            self.n += 1
            n = self.n
            self.calls.append((name, args))
            self.action(n, name, args)
            result = real(*args, **kwargs)
            self.after(n)
            return result

        return op


def injected(n: int, name: str) -> OSError:
    return OSError(errno.EIO, f"injected fault in write {n} ({name})")


def sigint() -> None:
    """A real Ctrl-C, delivered to the main thread (the signal handler raises KeyboardInterrupt)."""
    assert threading.main_thread().ident is not None
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def journal(root: Path) -> Path:
    return root / ".git" / "gitopsgen.journal"


def generate_plan(root: Path) -> tree.Plan:
    """Edit cluster-2's intent (pool ml → gpu, etl replicas 2 → 4): files change, appear and go."""
    intent = root / "intent" / "clusters" / "cluster-2.yaml"
    text = intent.read_text()
    assert "  - name: ml\n    namespace: prefect-ml\n" in text and "    replicas: 2\n" in text
    text = text.replace("  - name: ml\n    namespace: prefect-ml\n", "  - name: gpu\n    namespace: prefect-gpu\n")
    intent.write_text(text.replace("    replicas: 2\n", "    replicas: 4\n", 1))
    p = generator.plan_all(root)
    changed = next(rel for rel in p.write if p.current.get(rel) is not None)
    (root / changed).chmod(0o600)  # a changed file keeps its mode
    assert p.delete and any(p.current.get(rel) is None for rel in p.write), "the plan must add and delete"
    return p


def add_cluster_plan(root: Path) -> tree.Plan:
    fleet = intentfiles.load_fleet(root)
    cluster = dataclasses.replace(intentfiles.load_cluster(root, "cluster-2"), name="cluster-9", cluster_uid="uid-9")
    p = generator.plan_cluster(root, fleet, cluster, with_intent=True)
    assert p.write and all(p.current.get(rel) is None for rel in p.write)
    return p


PLANS = {"generate": generate_plan, "add-cluster": add_cluster_plan}


class Subject:
    """The fleet, its plan, the snapshots before and after, and the writes of an undisturbed run."""

    def __init__(self, root: Path, make_plan: Callable[[Path], tree.Plan], pristine: Path) -> None:
        self.root = root
        self.plan = make_plan(root)
        self.before = snapshot(root)
        self.after = planned(self.before, self.plan)
        shutil.copytree(root, pristine, symlinks=True)
        self.pristine = pristine
        counter = Faults()
        with counter.installed():
            treewrite.apply(root, self.plan)
        assert snapshot(root) == self.after, "an undisturbed run writes exactly the plan"
        assert not journal(root).exists()
        self.calls = counter.calls
        jtmp = journal(root).with_name("gitopsgen.journal.tmp")
        commits = [i for i, (name, args) in enumerate(counter.calls, 1) if name == "replace" and args[0] == jtmp]
        opens = [i for i, (name, args) in enumerate(counter.calls, 1) if name == "open" and args[0] == jtmp]
        assert len(commits) == len(opens) == 2  # the journal, then the journal marked committed
        self.commit_at = commits[1]  # the commit point
        self.shield_at = opens[1]  # from here on, SIGINT waits until the write is complete
        self.reset()

    def reset(self) -> None:
        shutil.rmtree(self.root)
        shutil.copytree(self.pristine, self.root, symlinks=True)
        assert snapshot(self.root) == self.before


@pytest.fixture(params=sorted(PLANS))
def subject(request: pytest.FixtureRequest, fleet: Path, tmp_path: Path) -> Subject:
    return Subject(fleet, PLANS[request.param], tmp_path / "pristine")


def test_plan_exercises_every_kind_of_write(subject: Subject) -> None:
    names = {name for name, _ in subject.calls}
    assert {"open", "write", "fsync", "fchmod", "close", "replace", "unlink"} <= names
    assert "mkdir" in names  # new directories (pools/gpu/, or the whole cluster)
    assert len(subject.calls) > 50


def test_oserror_at_every_write(subject: Subject) -> None:
    for k in range(1, len(subject.calls) + 1):

        def fail(n: int, name: str, args: tuple[object, ...], k: int = k) -> None:
            if n == k:
                raise injected(n, name)

        with Faults(fail).installed():
            try:
                treewrite.apply(subject.root, subject.plan)
                raised: BaseException | None = None
            except OSError as exc:
                raised = exc
            except InputError as exc:  # the lock file could not be created
                raised = exc.__cause__
        where = f"fault in write {k} {subject.calls[k - 1]}"
        assert not journal(subject.root).exists(), where
        if k <= subject.commit_at:
            assert isinstance(raised, OSError) and "injected fault" in str(raised), where
            assert snapshot(subject.root) == subject.before, where
        else:  # after the commit point: the clean-up retries and the run succeeds
            assert raised is None, where
            assert snapshot(subject.root) == subject.after, where
            subject.reset()


def test_sigint_after_every_write(subject: Subject) -> None:
    for k in range(1, len(subject.calls) + 1):
        faults = Faults(after=lambda n, k=k: sigint() if n == k else None)
        with faults.installed(), pytest.raises(KeyboardInterrupt):
            treewrite.apply(subject.root, subject.plan)
        where = f"SIGINT after write {k} {subject.calls[k - 1]}"
        assert not journal(subject.root).exists(), where
        if k < subject.shield_at:
            assert snapshot(subject.root) == subject.before, where
        else:  # held back from the commit on, raised once the write is complete
            assert snapshot(subject.root) == subject.after, where
            subject.reset()


def test_sigkill_before_every_write_is_recovered_by_the_next_run(subject: Subject) -> None:
    for k in range(1, len(subject.calls) + 1):
        pid = os.fork()
        if pid == 0:  # the writer: killed outright before its k-th write, no clean-up at all
            code = 3
            try:
                kill = lambda n, name, args, k=k: os.kill(os.getpid(), signal.SIGKILL) if n == k else None  # noqa: E731
                with Faults(kill).installed():
                    treewrite.apply(subject.root, subject.plan)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        where = f"SIGKILL before write {k} {subject.calls[k - 1]}"
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, where
        with treewrite.lock(subject.root):  # the next run: rolls back, or finishes once committed
            pass
        assert not journal(subject.root).exists(), where
        if k <= subject.commit_at:
            assert snapshot(subject.root) == subject.before, where
        else:
            assert snapshot(subject.root) == subject.after, where
            subject.reset()


def _first(subject: Subject, name: str, arg: Callable[[tuple[object, ...]], bool] = lambda a: True) -> int:
    return next(i for i, (n, args) in enumerate(subject.calls, 1) if n == name and arg(args))


def test_failed_rollback_is_finished_by_the_next_run(subject: Subject) -> None:
    """A write fails halfway through the renames and every rename and unlink fails from then on."""
    renames = [i for i, (n, a) in enumerate(subject.calls, 1) if n == "replace" and a[1] != journal(subject.root)]
    k = renames[len(renames) // 2]

    def fail(n: int, name: str, args: tuple[object, ...]) -> None:
        if n >= k and name in {"replace", "unlink"}:
            raise injected(n, name)

    with Faults(fail).installed(), pytest.raises(InputError, match="undoing it failed too") as info:
        treewrite.apply(subject.root, subject.plan)
    assert "next gitopsgen run in this repository undoes it" in str(info.value)
    assert isinstance(info.value.__context__, OSError)
    assert snapshot(subject.root) != subject.before and journal(subject.root).exists()
    with treewrite.lock(subject.root):
        pass
    assert snapshot(subject.root) == subject.before
    assert not journal(subject.root).exists()


def test_second_ctrl_c_during_rollback_waits_for_it(subject: Subject) -> None:
    k = [i for i, (n, a) in enumerate(subject.calls, 1) if n == "replace" and a[1] != journal(subject.root)][-1]

    def fail(n: int, name: str, args: tuple[object, ...]) -> None:
        if n == k:
            raise injected(n, name)

    with Faults(fail, after=lambda n: sigint() if n == k + 1 else None).installed():
        with pytest.raises(KeyboardInterrupt):
            treewrite.apply(subject.root, subject.plan)
    assert snapshot(subject.root) == subject.before
    assert not journal(subject.root).exists()


def test_failed_cleanup_after_commit_is_finished_by_the_next_run(subject: Subject) -> None:
    def fail(n: int, name: str, args: tuple[object, ...]) -> None:
        if n > subject.commit_at and name == "unlink":  # backups and the journal
            raise injected(n, name)

    with (
        Faults(fail).installed(),
        pytest.raises(InputError, match=r"every file was written, but .*could not be removed"),
    ):
        treewrite.apply(subject.root, subject.plan)
    _, files = snapshot(subject.root)
    assert {f: v for f, v in files.items() if ".gitopsgen-" not in f} == subject.after[1]
    with treewrite.lock(subject.root):
        pass
    assert snapshot(subject.root) == subject.after
    assert not journal(subject.root).exists()


# ---------------------------------------------------------------- the lock

HOLD = """
import sys
from pathlib import Path
from gitopsgen.generate import treewrite
with treewrite.lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextmanager
def held_elsewhere(root: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def test_second_run_is_refused_while_the_first_writes(fleet: Path) -> None:
    p = generate_plan(fleet)
    before = snapshot(fleet)
    with held_elsewhere(fleet) as proc:
        with pytest.raises(InputError) as info:
            treewrite.apply(fleet, p)
        message = str(info.value)
        assert message.startswith(f"another gitopsgen run is writing this repository (pid {proc.pid}, since ")
        assert message.endswith("); try again when it ends") and "\n" not in message
        assert snapshot(fleet) == before
    treewrite.apply(fleet, p)  # released when the first run ended
    assert snapshot(fleet) == planned(before, p)


def test_lock_is_released_after_an_exception_and_nests(fleet: Path) -> None:
    p = generate_plan(fleet)
    with pytest.raises(ValueError), treewrite.lock(fleet):
        raise ValueError("boom")
    with held_elsewhere(fleet):
        pass  # could take it
    before = snapshot(fleet)
    with treewrite.lock(fleet):  # held across planning and apply, as a caller may
        treewrite.apply(fleet, generator.plan_all(fleet))
        assert (fleet / ".git" / "gitopsgen.lock").read_text().startswith(f"pid {os.getpid()}, since ")
    assert snapshot(fleet) == planned(before, p)


def test_lock_outside_git_sits_in_the_root_and_is_not_planned(tmp_path: Path) -> None:
    p = tree.plan(tmp_path, {"owned/a.yaml": "a: 1\n"}, ["owned"])
    treewrite.apply(tmp_path, p)
    assert (tmp_path / ".gitopsgen.lock").is_file() and not (tmp_path / ".gitopsgen.journal").exists()
    assert tree.plan(tmp_path, {"owned/a.yaml": "a: 1\n"}, ["owned"]).empty


# ---------------------------------------------------------------- refusals: nothing written


def test_file_changed_between_plan_and_apply_is_refused(fleet: Path) -> None:
    p = generate_plan(fleet)
    rel = next(rel for rel in p.write if p.current.get(rel) is not None)
    (fleet / rel).write_text("edited by someone else\n")
    before = snapshot(fleet)
    with pytest.raises(InputError, match=f"^{rel} changed while gitopsgen was planning; run it again$"):
        treewrite.apply(fleet, p)
    assert snapshot(fleet) == before


def test_file_created_between_plan_and_apply_is_refused(fleet: Path) -> None:
    p = add_cluster_plan(fleet)
    rel = sorted(p.write)[0]
    (fleet / rel).parent.mkdir(parents=True, exist_ok=True)
    (fleet / rel).write_text("mine\n")
    before = snapshot(fleet)
    with pytest.raises(InputError, match="changed while gitopsgen was planning"):
        treewrite.apply(fleet, p)
    assert snapshot(fleet) == before


@pytest.mark.parametrize("leftover", [".gitopsgen-bak-kustomization.yaml", ".gitopsgen-tmp-kustomization.yaml"])
def test_leftovers_without_a_journal_are_refused(fleet: Path, leftover: str) -> None:
    directory = fleet / "overlays" / "cluster-2" / "prefect-worker"
    (directory / leftover).write_text("the user's only copy\n")
    p = generate_plan(fleet)
    before = snapshot(fleet)
    with pytest.raises(InputError) as info:
        treewrite.apply(fleet, p)
    message = str(info.value)
    assert f"an interrupted gitopsgen run left overlays/cluster-2/prefect-worker/{leftover}" in message
    assert "move each .gitopsgen-bak-NAME back over NAME, delete the .gitopsgen-tmp-* files" in message
    assert snapshot(fleet) == before


def test_unreadable_journal_is_refused(fleet: Path) -> None:
    journal(fleet).write_text("{not json")
    with pytest.raises(InputError, match=r"gitopsgen\.journal .*interrupted gitopsgen run.*then delete that file"):
        treewrite.apply(fleet, generate_plan(fleet))
