"""`dump` loses nothing: permission bits, atomic replacement, killed writers, concurrent writers.

Every test here uses real files and, where a writer must die or run beside
another, real processes. Outcomes never depend on timing: a kill may land at
any moment of a write, and each check holds whichever moment it was.
"""

from __future__ import annotations

import os
import random
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest

import quantparams
from quantparams import QuantParamSchema

POSIX_ONLY = pytest.mark.skipif(
    not hasattr(os, "fork") or not hasattr(signal, "SIGKILL"),
    reason="needs fork, SIGKILL and flock (POSIX)",
)
try:
    import fcntl  # noqa: F401
except ImportError:  # pragma: no cover - Windows
    HAVE_FLOCK = False
else:
    HAVE_FLOCK = True
NEEDS_FLOCK = pytest.mark.skipif(not HAVE_FLOCK, reason="needs fcntl.flock")

TARGET = "scales.json"
# What the docs promise a writer's temporary file is called: ".{name}.{8 hex}.quantparams-tmp".
TEMP_NAME = re.compile(rf"\.{re.escape(TARGET)}\.[0-9a-f]{{8}}\.quantparams-tmp")


def _document_bytes(seed: int, ranks: int, layers: int, model_type: str | None = "llama") -> bytes:
    """A sound document, every scale distinct from those of other seeds, as `dumps` writes it."""
    base = seed * ranks * layers
    raw = {
        "model_type": model_type,
        "kv_cache": {
            "dtype": "float8_e4m3fn",
            "scaling_factor": {
                str(r): {str(k): (base + r * layers + k + 1) / 4096 for k in range(layers)}
                for r in range(ranks)
            },
        },
    }
    data = quantparams.dumps(quantparams.loads(orjson.dumps(raw)))
    assert orjson.loads(data) == raw
    return data


def _others(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name != TARGET)


def _assert_only_temps_beside(folder: Path) -> list[str]:
    """Everything beside the target is recognizable by name as a writer's temporary file."""
    others = _others(folder)
    assert [name for name in others if not TEMP_NAME.fullmatch(name)] == []
    return others


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _run_script(tmp_path: Path, name: str, source: str) -> Path:
    script = tmp_path / name
    script.write_text(source)
    return script


# --- permission bits -----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o604, 0o444, 0o750, 0o711], ids=oct)
def test_every_dump_keeps_the_permission_bits_of_the_file_it_replaces(tmp_path: Path, mode: int) -> None:
    target = tmp_path / TARGET
    target.write_bytes(_document_bytes(0, 1, 2))
    target.chmod(mode)
    for seed in (1, 2, 3):
        data = _document_bytes(seed, 2, 3)
        quantparams.dump(quantparams.loads(data), target)
        assert stat.S_IMODE(target.stat().st_mode) == mode
        assert target.read_bytes() == data
    assert os.listdir(tmp_path) == [TARGET]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=oct)
def test_a_new_file_gets_the_usual_mode_for_the_umask(tmp_path: Path, umask: int) -> None:
    target = tmp_path / TARGET
    schema = quantparams.loads(_document_bytes(0, 1, 2))
    old = os.umask(umask)
    try:
        quantparams.dump(schema, target)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert quantparams.load(target) == schema


# --- killed writers ------------------------------------------------------------------------------------

# Forks, on request, a child that dumps the two documents in turn to the target
# until it is killed; reports the child's pid, then how it ended. Forking from
# a process that has already loaded both documents makes each round cheap.
_FORKING_WRITER = """\
import os, sys, time
import quantparams

target, first, second = sys.argv[1:]
docs = [quantparams.load(first), quantparams.load(second)]
print("ready", flush=True)
while line := sys.stdin.readline():
    start = int(line)
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            # Ends by itself after a minute should nobody kill it.
            deadline = time.monotonic() + 60
            i = start
            while time.monotonic() < deadline:
                quantparams.dump(docs[i % 2], target)
                i += 1
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        os._exit(code)
    print(pid, flush=True)
    _, status = os.waitpid(pid, 0)
    print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -os.WEXITSTATUS(status), flush=True)
"""


@POSIX_ONLY
@NEEDS_FLOCK
def test_killing_a_writer_at_any_moment_leaves_a_complete_file(tmp_path: Path) -> None:
    # 256 TP ranks x 1024 layers: about 5 MiB, tens of milliseconds to write and sync.
    documents = [_document_bytes(seed, 256, 1024) for seed in (1, 2)]
    schemas = [quantparams.loads(data) for data in documents]
    sources = [tmp_path / "first.json", tmp_path / "second.json"]
    for source, data in zip(sources, documents):
        source.write_bytes(data)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / TARGET
    script = _run_script(tmp_path, "forking_writer.py", _FORKING_WRITER)
    new_file_mode = 0o666 & ~_umask()
    rng = random.Random(20240611)  # noqa: S311 - varied kill moments, not secrets
    rounds = 24
    with subprocess.Popen(
        [sys.executable, str(script), str(target), *map(str, sources)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as writers:
        assert writers.stdin is not None
        assert writers.stdout is not None
        try:
            assert writers.stdout.readline() == "ready\n"
            for round_ in range(rounds):
                # Most rounds replace a file; some write one where there was none.
                existed = round_ % 6 != 0
                if existed:
                    target.write_bytes(documents[round_ % 2])
                    target.chmod(0o640)
                else:
                    target.unlink(missing_ok=True)
                writers.stdin.write(f"{round_}\n")
                writers.stdin.flush()
                pid = int(writers.stdout.readline())
                time.sleep(rng.uniform(0.0, 0.12))
                os.kill(pid, signal.SIGKILL)
                # The child died of the kill, not of an error of its own.
                assert writers.stdout.readline() == f"{int(signal.SIGKILL)}\n"

                _assert_only_temps_beside(folder)
                if not target.exists():
                    assert not existed  # killed before its first rename: no file, as before
                    continue
                assert target.read_bytes() in documents
                assert quantparams.load(target) in schemas
                assert stat.S_IMODE(target.stat().st_mode) == (0o640 if existed else new_file_mode)
        finally:
            writers.stdin.close()
            try:
                writers.wait(timeout=30)
            except subprocess.TimeoutExpired:  # pragma: no cover - only when a check above failed
                writers.kill()
    assert writers.returncode == 0
    # Whatever the killed writers left, the next dump clears it.
    quantparams.dump(schemas[0], target)
    assert os.listdir(folder) == [TARGET]
    assert target.read_bytes() == documents[0]


# Starts a real dump whose writing stalls half-way, holding its temporary file
# (and its lock) open until the test kills it.
_STALLED_WRITER = """\
import os, sys
import quantparams

target, source = sys.argv[1:]
schema = quantparams.load(source)
real_write = os.write

def stalled_write(fd, data):
    real_write(fd, bytes(data[: len(data) // 2]))
    sys.stdout.write("stalled\\n")
    sys.stdout.flush()
    sys.stdin.readline()  # until killed
    raise SystemExit("was not killed")

os.write = stalled_write
quantparams.dump(schema, target)
"""


@POSIX_ONLY
@NEEDS_FLOCK
def test_a_killed_writers_temp_file_is_kept_while_it_lives_and_removed_by_the_next_dump(
    tmp_path: Path,
) -> None:
    old, new, third, fourth = (_document_bytes(seed, 8, 512) for seed in range(4))
    source = tmp_path / "new.json"
    source.write_bytes(new)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / TARGET
    target.write_bytes(old)
    script = _run_script(tmp_path, "stalled_writer.py", _STALLED_WRITER)
    with subprocess.Popen(
        [sys.executable, str(script), str(target), str(source)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    ) as writer:
        assert writer.stdout is not None
        try:
            assert writer.stdout.readline() == b"stalled\n"
            temps = _assert_only_temps_beside(folder)
            assert len(temps) == 1
            temp = folder / temps[0]
            assert 0 < temp.stat().st_size < len(new)
            # Half-way through the write, the target is the old file, whole.
            assert target.read_bytes() == old
            # Another dump meanwhile succeeds and leaves the live writer's file alone.
            quantparams.dump(quantparams.loads(third), target)
            assert target.read_bytes() == third
            assert _others(folder) == temps
        finally:
            writer.kill()
            writer.wait()
    assert writer.returncode == -signal.SIGKILL
    # Killed, it left its temporary file behind, and nothing else changed.
    assert _others(folder) == temps
    assert target.read_bytes() == third
    quantparams.dump(quantparams.loads(fourth), target)
    assert os.listdir(folder) == [TARGET]
    assert target.read_bytes() == fourth


# Holds an exclusive flock on each file named on the command line until killed.
_LOCK_HOLDER = """\
import fcntl, sys
files = [open(name, "ab") for name in sys.argv[1:]]
for file in files:
    fcntl.flock(file.fileno(), fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
"""


@POSIX_ONLY
@NEEDS_FLOCK
def test_cleanup_removes_only_unlocked_files_named_as_this_targets_temps(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / TARGET
    abandoned = [f".{TARGET}.deadbeef.quantparams-tmp", f".{TARGET}.01234567.quantparams-tmp"]
    locked = [f".{TARGET}.89abcdef.quantparams-tmp"]
    # Close, but not what dump names its temporary files for this target.
    near_misses = [
        f".{TARGET}.DEADBEEF.quantparams-tmp",
        f".{TARGET}.deadbee.quantparams-tmp",
        f".{TARGET}.deadbeef0.quantparams-tmp",
        f".{TARGET}.deadbeeg.quantparams-tmp",
        f".{TARGET}..quantparams-tmp",
        f"{TARGET}.deadbeef.quantparams-tmp",
        f".{TARGET}.deadbeef.quantparams-tmp.bak",
        f".{TARGET}.deadbeef.tmp",
        ".other.json.deadbeef.quantparams-tmp",
        f".x{TARGET}.deadbeef.quantparams-tmp",
    ]
    for name in abandoned + locked + near_misses:
        (folder / name).write_bytes(b'{"model_type": "ll')
    # Named as a temporary file, but not a regular file: a folder, and a link to a file.
    (folder / f".{TARGET}.0badf00d.quantparams-tmp").mkdir()
    linked = tmp_path / "linked.json"
    linked.write_bytes(b"keep")
    (folder / f".{TARGET}.cafebabe.quantparams-tmp").symlink_to(linked)
    not_files = [f".{TARGET}.0badf00d.quantparams-tmp", f".{TARGET}.cafebabe.quantparams-tmp"]

    script = _run_script(tmp_path, "lock_holder.py", _LOCK_HOLDER)
    schema = quantparams.loads(_document_bytes(0, 2, 4))
    with subprocess.Popen(
        [sys.executable, str(script), *(str(folder / name) for name in locked)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as holder:
        assert holder.stdout is not None
        try:
            assert holder.stdout.readline() == b"locked\n"
            quantparams.dump(schema, target)
            assert _others(folder) == sorted(locked + near_misses + not_files)
        finally:
            holder.kill()
            holder.wait()
    assert holder.returncode == -signal.SIGKILL
    # Its holder dead, the locked file is abandoned too.
    quantparams.dump(schema, target)
    assert _others(folder) == sorted(near_misses + not_files)
    assert linked.read_bytes() == b"keep"
    assert quantparams.load(target) == schema


# --- concurrent writers --------------------------------------------------------------------------------


def _read_while(folder: Path, documents: list[bytes], running: threading.Event) -> Iterator[int]:
    """Read the target over and over while writers run; yields the index of the document read."""
    target = folder / TARGET
    while running.is_set():
        data = target.read_bytes()
        assert data in documents, f"read {len(data)} bytes that are no complete document"
        yield documents.index(data)


def test_concurrent_dumps_from_threads_end_with_one_complete_file(tmp_path: Path) -> None:
    documents = [_document_bytes(seed, 16, 512, model_type=f"model-{seed}") for seed in range(6)]
    schemas = [quantparams.loads(data) for data in documents]
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / TARGET
    quantparams.dump(schemas[0], target)
    target.chmod(0o604)
    writers = len(schemas)
    start = threading.Barrier(writers + 1)
    running = threading.Event()
    running.set()

    def write(index: int) -> int:
        start.wait()
        for _ in range(12):
            quantparams.dump(schemas[index], target)
        return index

    def read() -> int:
        start.wait()
        return sum(1 for _ in _read_while(folder, documents, running))

    with ThreadPoolExecutor(max_workers=writers + 1) as pool:
        reader = pool.submit(read)
        done = [pool.submit(write, index) for index in range(writers)]
        try:
            assert sorted(future.result() for future in done) == list(range(writers))
        finally:
            running.clear()
        reader.result()  # re-raises what a bad read raised
    assert os.listdir(folder) == [TARGET]
    assert target.read_bytes() in documents
    assert quantparams.load(target) in schemas
    assert stat.S_IMODE(target.stat().st_mode) == 0o604


_REPEATED_WRITER = """\
import sys
import quantparams

target, source, times = sys.argv[1:]
schema = quantparams.load(source)
print("ready", flush=True)
sys.stdin.readline()
for _ in range(int(times)):
    quantparams.dump(schema, target)
"""


@NEEDS_FLOCK
def test_concurrent_dumps_from_processes_end_with_one_complete_file(tmp_path: Path) -> None:
    documents = [_document_bytes(seed, 16, 512, model_type=f"model-{seed}") for seed in range(4)]
    sources = []
    for index, data in enumerate(documents):
        sources.append(tmp_path / f"source-{index}.json")
        sources[-1].write_bytes(data)
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / TARGET
    target.write_bytes(documents[0])
    script = _run_script(tmp_path, "repeated_writer.py", _REPEATED_WRITER)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(target), str(source), "15"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        for source in sources
    ]
    running = threading.Event()
    running.set()
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline() == b"ready\n"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"go\n")
            process.stdin.flush()
        with ThreadPoolExecutor(max_workers=1) as pool:
            reader = pool.submit(lambda: sum(1 for _ in _read_while(folder, documents, running)))
            try:
                codes = [process.wait(timeout=60) for process in processes]
            finally:
                running.clear()
            reader.result()  # re-raises what a bad read raised
    finally:
        for process in processes:
            if process.poll() is None:  # pragma: no cover - only when a check above failed
                process.kill()
            process.wait()
            for stream in (process.stdin, process.stdout):
                if stream is not None:
                    stream.close()
    assert codes == [0] * len(processes)
    assert os.listdir(folder) == [TARGET]
    assert target.read_bytes() in documents
    assert quantparams.load(target) in [quantparams.loads(data) for data in documents]


def test_a_dump_that_has_nothing_to_clean_touches_nothing_else(tmp_path: Path) -> None:
    # Files of other names in the folder, hidden ones included, survive any number of dumps.
    keep = {"notes.txt": b"a", ".hidden": b"b", f"{TARGET}.bak": b"c", f".{TARGET}": b"d"}
    for name, data in keep.items():
        (tmp_path / name).write_bytes(data)
    schemas: list[QuantParamSchema] = [quantparams.loads(_document_bytes(seed, 2, 8)) for seed in range(3)]
    for schema in schemas:
        quantparams.dump(schema, tmp_path / TARGET)
    assert sorted(os.listdir(tmp_path)) == sorted([*keep, TARGET])
    assert {name: (tmp_path / name).read_bytes() for name in keep} == keep
    assert quantparams.load(tmp_path / TARGET) == schemas[-1]
