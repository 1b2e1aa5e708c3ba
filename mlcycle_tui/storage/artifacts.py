"""The content-addressed artifact store: datasets as Parquet, models as joblib.

Why this exists: artifacts must never be half-written or silently corrupted.
Every write goes to a temporary file in the store, is fsynced, hashed and then
renamed to `objects/<sha[:2]>/<sha><suffix>`, so a file is either complete or
absent; the database row that points at it is written only afterwards. Every
load checks the SHA-256 recorded in the database first and refuses a mismatch.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from mlcycle_tui.common.errors import IntegrityError

CHUNK = 1 << 20


class ArtifactDamaged(IntegrityError):
    """A recorded artifact that is missing or fails its SHA-256 check.

    `artifact` is its path under the store, `reason` "missing" or "checksum": front
    doors (which never import storage) read both with `getattr` to say which file is
    damaged and how."""

    def __init__(self, message: str, *, artifact: str, reason: str) -> None:
        super().__init__(message)
        self.artifact = artifact
        self.reason = reason


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


class _FollowingHash:
    """The SHA-256 of a file computed by a thread that reads it while another appends to it.

    Hashing after writing puts the two in a row; following the writer (reading from the page
    cache what it has already written) lets them run at once. `finish` is called once the
    writer is done and returns the digest; `size` is how many bytes went into it, which the
    caller compares with the file's size.
    """

    def __init__(self, path: Path) -> None:
        import threading

        self.size = 0
        self._digest: str | None = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(path,), name="mlcycle-hash", daemon=True)
        self._thread.start()

    def _run(self, path: Path) -> None:
        h = hashlib.sha256()
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        try:
            with open(path, "rb", buffering=0) as fh:
                while True:
                    finished = self._done.is_set()  # before the read: writer done + empty read = the end
                    n = fh.readinto(buf)
                    if n:
                        h.update(view[:n])
                        self.size += n
                    elif finished:
                        break
                    else:
                        self._done.wait(0.002)
            self._digest = h.hexdigest()
        except BaseException as exc:  # reported by finish()
            self._error = exc

    def finish(self) -> str | None:
        """The digest of everything written (None if reading failed: hash the file instead)."""
        self._done.set()
        self._thread.join()
        return None if self._error is not None else self._digest


class ArtifactStore:
    """Files addressed by their SHA-256 under one root folder."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.tmp = self.root / "tmp"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    # -- writing ---------------------------------------------------------
    def put_with(
        self,
        writer: Callable[[Path], None],
        suffix: str,
        digest: Callable[[], str] | None = None,
        appends_only: bool = False,
    ) -> tuple[str, str]:
        """Let `writer` fill a temporary file, then store it; returns (sha256, relpath).

        `digest`, when given, returns the SHA-256 of what `writer` wrote (computed alongside),
        which saves reading the file back. `appends_only` says that `writer` only ever
        appends to the file (never seeks back): it is then hashed while it is being written.
        """
        from concurrent.futures import ThreadPoolExecutor

        fd, tmp_name = tempfile.mkstemp(dir=self.tmp, suffix=suffix + ".part")
        os.close(fd)
        tmp = Path(tmp_name)
        follower = _FollowingHash(tmp) if appends_only and digest is None else None
        try:
            try:
                writer(tmp)
            finally:
                sha = follower.finish() if follower is not None else None
            # the flush to disk waits on the device, hashing on the CPU: both at once
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlcycle-fsync") as side:
                synced = side.submit(_fsync_file, tmp)
                if digest is not None:
                    sha = digest()
                elif sha is None or follower is None or follower.size != tmp.stat().st_size:
                    sha = sha256_file(tmp)  # not followed, or the file was not just appended to
                synced.result()
            rel = f"objects/{sha[:2]}/{sha}{suffix}"
            final = self.root / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.exists() and sha256_file(final) == sha:
                tmp.unlink()
            else:
                os.replace(tmp, final)
                fsync_dir(final.parent)
            return sha, rel
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def put_bytes(self, data: bytes | memoryview, suffix: str = "") -> tuple[str, str]:
        """Store a buffer, hashed from memory rather than read back from the file."""
        view = memoryview(data)
        return self.put_with(lambda p: p.write_bytes(view), suffix, lambda: hashlib.sha256(view).hexdigest())

    def put_joblib(self, obj: Any, suffix: str = ".joblib") -> tuple[str, str]:
        import joblib

        return self.put_with(lambda p: joblib.dump(obj, p, compress=3), suffix)

    def put_parquet(self, frame: Any, dictionaries: dict[str, Any] | None = None) -> tuple[str, str]:
        """Store a data frame as Parquet, encoded for write speed (see `write_parquet`).

        Written straight to the file: building a 100 MB Parquet buffer in memory first
        sometimes cost most of a second of page faults."""
        return self.put_with(lambda path: write_parquet(frame, path, dictionaries), ".parquet", appends_only=True)

    # -- reading ---------------------------------------------------------
    def path(self, rel: str) -> Path:
        return self.root / rel

    def verify(self, sha: str, rel: str) -> Path:
        """The file's path once its SHA-256 matches `sha`; IntegrityError otherwise."""
        path = self.root / rel
        if not path.exists():
            raise ArtifactDamaged(
                f"artifact {rel} is missing from the workspace; "
                "run `mlcycle doctor` to list damaged entries",
                artifact=rel, reason="missing",
            )
        actual = sha256_file(path)
        if actual != sha:
            raise ArtifactDamaged(
                f"artifact {rel} is corrupted (sha256 {actual[:12]}… != recorded {sha[:12]}…); "
                "it was changed outside mlcycle — restore it or re-create the entry",
                artifact=rel, reason="checksum",
            )
        return path

    def load_parquet(self, sha: str, rel: str, columns: list[str] | None = None) -> Any:
        import pyarrow.parquet as pq

        path = self.verify(sha, rel)
        return _as_written(pq.read_table(path, columns=columns)).to_pandas()

    def load_joblib(self, sha: str, rel: str) -> Any:
        import joblib

        return joblib.load(self.verify(sha, rel))

    def load_bytes(self, sha: str, rel: str) -> bytes:
        return self.verify(sha, rel).read_bytes()

    def iter_objects(self) -> Iterator[Path]:
        yield from (p for p in self.objects.rglob("*") if p.is_file())

    def tmp_files(self) -> list[Path]:
        """Temporary files of writers (`*.part` and chunk copies); a killed writer leaves its own."""
        try:
            return sorted(p for p in self.tmp.iterdir() if p.is_file())
        except OSError:
            return []

    def clean_tmp(self, older_than_s: float = 3600.0) -> int:
        """Remove temporary files left by killed writers; returns how many."""
        import time

        removed = 0
        now = time.time()
        for p in self.tmp.glob("*"):
            try:
                if now - p.stat().st_mtime > older_than_s:
                    p.unlink()
                    removed += 1
            except OSError:
                pass
        return removed


def copy_artifact(root: Path, sha: str, rel: str, dest_root: Path) -> int:
    """Copy the stored file `root/rel` to `dest_root/rel` (a backup or a restore).

    The bytes are hashed as they are copied, so the copy is the file that matched `sha`;
    a mismatch raises `ArtifactDamaged` and leaves nothing at the destination. The copy is
    written to `<name>.part`, flushed and renamed. Returns the number of bytes copied."""
    src = root / rel
    try:
        fin = open(src, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise ArtifactDamaged(f"artifact {rel} is missing from the workspace", artifact=rel,
                              reason="missing") from None
    dest = dest_root / rel
    part = dest.with_name(dest.name + ".part")
    h = hashlib.sha256()
    size = 0
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with fin, open(part, "wb") as fout:
            while chunk := fin.read(CHUNK):
                h.update(chunk)
                fout.write(chunk)
                size += len(chunk)
            fout.flush()
            os.fsync(fout.fileno())
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    if h.hexdigest() != sha:
        part.unlink(missing_ok=True)
        raise ArtifactDamaged(
            f"artifact {rel} is corrupted (sha256 {h.hexdigest()[:12]}… != recorded {sha[:12]}…)",
            artifact=rel, reason="checksum",
        )
    os.replace(part, dest)
    return size


def write_parquet(frame: Any, where: Any, dictionaries: dict[str, Any] | None = None) -> None:
    """A frame as Parquet (a path or an Arrow sink), encoded for speed rather than the smallest file.

    Columns without missing values are written as required (no definition levels);
    statistics are skipped (the profile holds them); text, integers, dates and
    floats with few distinct values are dictionary-encoded and Snappy-compressed,
    while other floats are stored plain (Snappy gains little on them and costs the
    most time). A 1M x 20 mixed frame encodes about 4x faster than the defaults
    for a file about a third larger.

    `dictionaries` (column -> (codes, distinct values) from `profiling.factorize_text`, or a
    Future of that) hands the writer text columns already dictionary-encoded, so that it
    does not hash every string again; `load_parquet` reads them back as text.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = _arrow_table(frame)
    fields = [f.with_nullable(table.column(i).null_count > 0) for i, f in enumerate(table.schema)]
    table = table.cast(pa.schema(fields, metadata=table.schema.metadata))
    plain: set[str] = set()
    for f in table.schema:
        if pa.types.is_floating(f.type):
            values = table.column(f.name).to_numpy()
            sample = values[:: max(1, len(values) // 10_000)]
            if np.unique(sample).size > max(64, sample.size // 10):
                plain.add(f.name)
    if dictionaries:
        table = _with_dictionaries(table, dictionaries)
    names = table.column_names
    pq.write_table(
        table,
        where,
        use_dictionary=[n for n in names if n not in plain],
        compression={n: ("none" if n in plain else "snappy") for n in names},
        write_statistics=False,
    )


def _arrow_table(frame: Any) -> Any:
    """`pa.Table.from_pandas(frame)`, with float columns that hold no NaN taken as they are:
    from_pandas scans every float for NaN to mark it missing, at ~1.5 ms per million values
    (holding the GIL), where a NumPy check costs a tenth of that."""
    import numpy as np
    import pyarrow as pa

    whole: dict[int, Any] = {}
    for i, dtype in enumerate(frame.dtypes):
        if dtype == np.float64:
            values = frame.iloc[:, i].to_numpy()
            if not np.isnan(values).any():
                whole[i] = pa.array(values)  # the same buffer, no copy
    if not whole:
        return pa.Table.from_pandas(frame, preserve_index=False)
    rest = [i for i in range(frame.shape[1]) if i not in whole]
    converted = pa.Table.from_pandas(frame.iloc[:, rest], preserve_index=False) if rest else None
    position = {i: k for k, i in enumerate(rest)}
    arrays = [whole[i] if i in whole else converted.column(position[i]) for i in range(frame.shape[1])]
    return pa.Table.from_arrays(arrays, schema=pa.Schema.from_pandas(frame, preserve_index=False))


# A text column goes to the writer dictionary-encoded only while its dictionary is small:
# Parquet gives up on dictionaries past 1 MiB per column chunk and writes plain values.
_DIRECT_DICTIONARY_BYTES = 512 * 1024


def _with_dictionaries(table: Any, dictionaries: dict[str, Any]) -> Any:
    """`table` with its text columns swapped for dictionary arrays built from their codes."""
    import numpy as np
    import pyarrow as pa

    for name, pending in dictionaries.items():
        codes, distinct = pending.result() if hasattr(pending, "result") else pending  # as profiling.resolved
        i = table.schema.get_field_index(name)
        field = table.schema.field(i)
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        if len(distinct) > _DIRECT_DICTIONARY_BYTES // 8:  # surely too big: do not even build it
            continue
        dictionary = pa.array(np.asarray(distinct, dtype=object), type=field.type)
        if dictionary.nbytes > _DIRECT_DICTIONARY_BYTES:
            continue
        indices = pa.array(codes.astype(np.int32), mask=(codes < 0) if field.nullable else None)
        column = pa.DictionaryArray.from_arrays(indices, dictionary)
        table = table.set_column(i, pa.field(name, column.type, field.nullable), column)
    return table


def _as_written(table: Any) -> Any:
    """Text columns that `write_parquet` stored dictionary-encoded, back as text; columns that
    were categorical in pandas stay dictionaries (the file's pandas metadata tells which)."""
    import pyarrow as pa

    meta = table.schema.pandas_metadata or {}
    kinds = {c.get("name"): c.get("pandas_type") for c in meta.get("columns", [])}
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type) and kinds.get(field.name) not in (None, "categorical"):
            column = table.column(i).cast(field.type.value_type)
            table = table.set_column(i, pa.field(field.name, column.type, field.nullable), column)
    return table


def _fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in `path` durable (best effort: some file systems refuse)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
