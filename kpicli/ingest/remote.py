"""Files where Spark reads them: a `path:` that is a URI (``s3a://``, ``hdfs://``, ``gs://``,
``abfss://``, ``file://``), for ``--engine spark``.

kpi describes every file before a query runs (its header, delimiter, encoding, preamble,
column kinds: :mod:`kpicli.ingest.detect`, from the first and last bytes), whichever engine
then reads the rows. A remote file is described the same way, through the file system Spark
itself uses: Hadoop's ``FileSystem`` of the running Spark session (its connectors and
credentials: ``settings.spark.conf``), reached over Spark's JVM gateway. So kpi needs no
client of its own for each store, and lists and reads exactly what Spark will.

- :func:`is_remote` tells a URI from a local path (``C:/`` is a drive, not a scheme);
- :func:`glob` lists the files a pattern matches (Hadoop's glob: ``*``, ``?``, ``[ab]``,
  ``{a,b}`` within one folder; ``**`` is refused, as Hadoop does not recurse);
- :class:`RemotePath` stands for one file where the reader takes a :class:`~pathlib.Path`:
  its name, its size and modification time (:meth:`RemotePath.stat`), and
  :meth:`RemotePath.open`, a seekable binary stream, for the sample and a Parquet footer.

Only the sample is read here; the rows are read by Spark. Without a running Spark session
(another engine, Spark Connect, which has no JVM here) the functions raise
:class:`RemoteError`; the engine checks a report's sources first
(:func:`kpicli.execute.engine.check_sources`), so that a user sees that error only in
odd cases.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import stat
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

__all__ = ["RemoteError", "RemotePath", "glob", "is_remote", "scheme"]

#: A URI's scheme: two characters at least (``C:/`` is a Windows drive).
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):/")
#: Bytes fetched from the JVM at a time.
CHUNK = 4 << 20
_CONNECTORS = {
    "s3a": "hadoop-aws (spark.jars.packages: org.apache.hadoop:hadoop-aws:<Hadoop's version>)",
    "gs": "the GCS connector (com.google.cloud.bigdataoss:gcs-connector)",
    "abfs": "hadoop-azure (org.apache.hadoop:hadoop-azure)",
    "abfss": "hadoop-azure (org.apache.hadoop:hadoop-azure)",
    "wasbs": "hadoop-azure (org.apache.hadoop:hadoop-azure)",
}


class RemoteError(Exception):
    """A remote file cannot be listed or read here; ``hint`` says what to do."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


def scheme(path: object) -> str | None:
    """The scheme of a URI (``s3a``), None for a local path."""
    if isinstance(path, RemotePath):
        return path.scheme
    m = _SCHEME.match(str(path)) if isinstance(path, str) else None
    return m["scheme"].lower() if m else None


def is_remote(path: object) -> bool:
    """Whether ``path`` (a `path:` pattern, or a file matched) is a URI Spark reads."""
    return scheme(path) is not None


@dataclass(frozen=True)
class RemoteStat:
    """What the reader asks of a file's ``os.stat_result``."""

    st_size: int
    st_mtime_ns: int
    st_ino: int = 0
    st_dev: int = 0
    st_ctime_ns: int = 0
    st_mode: int = stat.S_IFREG | 0o444


class RemotePath:
    """One remote file, as the reader uses a :class:`~pathlib.Path`: ``str()`` is its URI
    (as Hadoop writes it: ``file:/tmp/a.csv``, ``s3a://bucket/a.csv``)."""

    def __init__(self, uri: str, size: int | None = None, mtime_ns: int | None = None):
        self.uri = uri
        self._stat = RemoteStat(size, mtime_ns or 0) if size is not None else None

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"RemotePath({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __lt__(self, other: RemotePath) -> bool:
        return self.uri < other.uri

    @property
    def scheme(self) -> str:
        return _SCHEME.match(self.uri)["scheme"].lower()  # type: ignore[index]

    @property
    def name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix

    @property
    def stem(self) -> str:
        return PurePosixPath(self.name).stem

    @property
    def parents(self) -> tuple:
        return ()  # no zip member is read remotely

    def is_absolute(self) -> bool:
        return True

    def resolve(self) -> RemotePath:
        return self

    absolute = expanduser = resolve

    def as_uri(self) -> str:
        return self.uri

    def stat(self) -> RemoteStat:
        if self._stat is None:
            fs, path = _filesystem(self.uri)
            status = _call(self.uri, lambda: fs.getFileStatus(path))
            self._stat = _stat_of(status)
        return self._stat

    def open(self, mode: str = "rb") -> io.BufferedReader:
        """The file's bytes: a seekable stream read from the JVM a chunk at a time."""
        if mode != "rb":
            raise ValueError(f"a remote file is opened to read bytes, not {mode!r}")
        return io.BufferedReader(_HadoopStream(self), buffer_size=1 << 20)

    def read_bytes(self) -> bytes:
        with self.open() as fh:
            return fh.read()


def glob(pattern: str) -> list[RemotePath]:
    """The files ``pattern`` matches (directories passed over), sorted; empty when none."""
    if "**" in pattern:
        raise RemoteError(
            f"`{pattern}`: `**` does not reach into sub-folders of a remote store",
            hint="Hadoop's glob matches within one folder: name each level (`*/*.csv`), or "
            "list the patterns under `path:`",
        )
    fs, path = _filesystem(pattern)
    statuses = _call(pattern, lambda: fs.globStatus(path))
    files = [
        RemotePath(st.getPath().toString(), st.getLen(), st.getModificationTime() * 1_000_000)
        for st in (statuses or ())
        if st.isFile()
    ]
    return sorted(files)


def _stat_of(status: Any) -> RemoteStat:
    if status.isDirectory():
        return RemoteStat(0, 0, st_mode=stat.S_IFDIR | 0o555)
    return RemoteStat(status.getLen(), status.getModificationTime() * 1_000_000)


class _HadoopStream(io.RawIOBase):
    """A Hadoop ``FSDataInputStream`` as a Python raw stream (seekable)."""

    def __init__(self, path: RemotePath):
        self._path = path
        self._size = path.stat().st_size
        fs, jpath = _filesystem(path.uri)
        self._in = _call(path.uri, lambda: fs.open(jpath))
        self._pos = 0
        self._at = 0  # where the Java stream is

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._size - self._pos, CHUNK)
        if n <= 0:
            return 0
        if self._at != self._pos:
            _call(self._path.uri, lambda: self._in.seek(self._pos))
        data = bytes(_call(self._path.uri, lambda: self._in.readNBytes(n)))
        buffer[: len(data)] = data
        self._pos += len(data)
        self._at = self._pos
        return len(data)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):  # the gateway may be gone at exit
                self._in.close()
        super().close()


def _filesystem(uri: str) -> tuple[Any, Any]:
    """(Hadoop FileSystem, Hadoop Path) of ``uri``, from the running Spark session."""
    spark = _session(uri)
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(uri)
    fs = _call(uri, lambda: path.getFileSystem(spark._jsc.hadoopConfiguration()))
    return fs, path


def _session(uri: str) -> Any:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise RemoteError(
            f"{uri} is read by Spark, and PySpark is not installed",
            hint="pip install 'kpi[spark]', and run with --engine spark",
        ) from None
    spark = SparkSession.getActiveSession()
    if spark is None or getattr(spark, "_jvm", None) is None:
        if os.environ.get("SPARK_REMOTE"):
            raise RemoteError(
                f"{uri}: kpi describes a remote file through Spark's JVM, which Spark "
                "Connect (SPARK_REMOTE) does not give it",
                hint="unset SPARK_REMOTE and set `settings.spark.master` to the cluster, or "
                "read a local copy of the files",
            )
        raise RemoteError(
            f"{uri} is a remote path: only --engine spark reads it",
            hint="run with --engine spark (or `settings.engine: spark`), or copy the files "
            "to a local folder",
        )
    return spark


def _call(uri: str, call: Any) -> Any:
    """``call()``, its Java error as a RemoteError naming ``uri`` and the likely fix."""
    try:
        return call()
    except Exception as err:
        if not type(err).__module__.startswith(("py4j", "pyspark")):
            raise
        raise _java_error(uri, err) from None


def _java_error(uri: str, err: Exception) -> RemoteError:
    java = getattr(err, "java_exception", None)
    text = java.toString() if java is not None else str(err)
    text = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    text = re.sub(r"^(?:[a-z]\w*\.)+(?=[A-Z]\w*(?:Exception|Error))", "", text)
    name = scheme(uri) or ""
    if "No FileSystem for scheme" in text or "ClassNotFoundException" in text:
        connector = _CONNECTORS.get(name, f"the Hadoop connector of `{name}://`")
        hint = f"Spark needs {connector} on its classpath: set it in settings.spark.conf"
    elif "FileNotFound" in text:
        hint = "check the path"
    else:
        hint = "check the URI and the store's credentials (settings.spark.conf)"
    return RemoteError(f"cannot read {uri}: {text}", hint=hint)
