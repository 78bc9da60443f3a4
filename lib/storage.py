"""Finding the raw files of a source and peeking at their first bytes, on any Hadoop filesystem.

Runs on the driver through the session's Hadoop FileSystem, so local paths, file://, s3a://,
hdfs:// and dbfs:/ behave alike. Only file names and a few bytes per file come back.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

from lib.errors import UserError

_PEEK_BYTES = 64 * 1024


def _hadoop(spark: SparkSession):
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    return jvm, conf


def local_path(path: str) -> Path | None:
    """The local path a location names; None on another file system (s3a://, hdfs://, dbfs:/)."""
    parts = urlsplit(path)
    if parts.scheme == "file":
        return Path(parts.path)
    return None if parts.scheme else Path(path)


def _is_hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def source_files(spark: SparkSession, input_dir: str, source: str) -> list[str]:
    """Every data file of `source`: INPUT/source* as a file, or a directory of part files."""
    jvm, conf = _hadoop(spark)
    pattern = jvm.org.apache.hadoop.fs.Path(f"{input_dir.rstrip('/')}/{source}*")
    try:
        fs = pattern.getFileSystem(conf)
        matches = fs.globStatus(pattern)
    except Exception as error:  # py4j wraps IOExceptions; the message is what the user needs
        raise UserError(f"cannot read input {input_dir}: {str(error).splitlines()[0]}") from None
    files: list[str] = []
    for status in matches or []:
        if _is_hidden(status.getPath().getName()):
            continue
        if status.isDirectory():
            listing = fs.listFiles(status.getPath(), True)
            while listing.hasNext():
                child = listing.next().getPath()
                relative = child.toString()[len(status.getPath().toString()):]
                if not any(_is_hidden(part) for part in relative.split("/") if part):
                    files.append(child.toString())
        else:
            files.append(status.getPath().toString())
    if not files:
        raise UserError(
            f"input source {source} not found: no file or directory matches "
            f"{input_dir.rstrip('/')}/{source}*"
        )
    return sorted(files)


def read_head(spark: SparkSession, file: str, limit: int = _PEEK_BYTES) -> str:
    """The first `limit` bytes of a file (decompressed when its codec is known), as text."""
    jvm, conf = _hadoop(spark)
    path = jvm.org.apache.hadoop.fs.Path(file)
    try:
        fs = path.getFileSystem(conf)
        stream = fs.open(path)
        codec = jvm.org.apache.hadoop.io.compress.CompressionCodecFactory(conf).getCodec(path)
        if codec is not None:
            stream = codec.createInputStream(stream)
        try:
            data = bytes(stream.readNBytes(limit))
        finally:
            stream.close()
    except Exception as error:
        raise UserError(f"cannot read {file}: {str(error).splitlines()[0]}") from None
    return data.decode("utf-8", errors="replace")


_COMMIT_FILE = re.compile(r"^(\d{20})\.json$")
_COMMIT_INFO_BYTES = 1 << 20  # Delta writes commitInfo as a commit's first line: a few KB


def latest_commit(spark: SparkSession, table: str) -> tuple[int, str | None]:
    """(version, userMetadata) of a Delta table's newest commit, from its log's file names and
    that commit's `commitInfo` action (Delta's protocol, the same on every file system)."""
    jvm, conf = _hadoop(spark)
    log = jvm.org.apache.hadoop.fs.Path(f"{table.rstrip('/')}/_delta_log")
    versions = [int(m.group(1)) for status in log.getFileSystem(conf).listStatus(log)
                if (m := _COMMIT_FILE.match(status.getPath().getName()))]
    if not versions:
        raise RuntimeError(f"{table}: no Delta commit in its _delta_log")
    version = max(versions)
    for line in read_head(spark, f"{log.toString()}/{version:020d}.json", _COMMIT_INFO_BYTES).splitlines():
        if line.startswith('{"commitInfo"'):
            return version, json.loads(line)["commitInfo"].get("userMetadata")
    raise RuntimeError(f"{table}: commit {version} has no commitInfo in its first "
                       f"{_COMMIT_INFO_BYTES} bytes")


def first_line(spark: SparkSession, file: str) -> str:
    head = read_head(spark, file)
    return head.splitlines()[0] if head else ""


def starts_with_array(spark: SparkSession, files: list[str]) -> bool:
    """JSON format sniffing: an array file's first non-blank character is '['."""
    for file in files:
        text = read_head(spark, file).lstrip("\ufeff \t\r\n")
        if text:
            return text.startswith("[")
    return False


GZIP_INFLATION = 5  # JSON Lines and CSV inflate ~5x under gzip


def file_sizes(spark: SparkSession, files: list[str]) -> dict[str, int]:
    """Each file's size on storage (a few metadata calls on the driver, no job)."""
    return {file: size for file, (size, _) in file_statuses(spark, files).items()}


def file_statuses(spark: SparkSession, files: list[str]) -> dict[str, tuple[int, int]]:
    """Each file's (size, modification time in ms since the epoch) on storage."""
    jvm, conf = _hadoop(spark)
    statuses = {}
    for file in files:
        path = jvm.org.apache.hadoop.fs.Path(file)
        status = path.getFileSystem(conf).getFileStatus(path)
        statuses[file] = (int(status.getLen()), int(status.getModificationTime()))
    return statuses


def tree_bytes(spark: SparkSession, path: str) -> int:
    """Bytes of every file under `path` (a Delta table's data files, its log and any files
    removed but not yet vacuumed): one summary call on the driver."""
    jvm, conf = _hadoop(spark)
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return int(hadoop_path.getFileSystem(conf).getContentSummary(hadoop_path).getLength())


def total_bytes(spark: SparkSession, files: list[str]) -> int:
    """Bytes of raw text in `files`: a .gz file counts GZIP_INFLATION times its size on storage.

    Sizes the shuffle partitions, so a source of mixed plain and gzip files is weighed file by
    file (counting every file of such a source as gzip overstated it ~3x).
    """
    return sum(size * (GZIP_INFLATION if file.endswith(".gz") else 1)
               for file, size in file_sizes(spark, files).items())


def split_bytes_for(files: dict[str, int], parallelism: int, tasks_per_core: int = 4) -> int:
    """`spark.sql.files.maxPartitionBytes` for reading one source: about `tasks_per_core` read
    tasks per core, between 4 MiB and Spark's default 128 MiB.

    Spark packs file splits into read tasks by size on storage, largest first. At the default,
    a source of two plain part files and two small gzip ones (1M rows here) became three tasks,
    the last holding both gzip files: five times their size to parse, alone on one core at the
    end of the stage. Smaller splits of the plain files leave the gzip files (never split) to
    run side by side.
    """
    wanted = sum(files.values()) // max(1, parallelism * tasks_per_core)
    return int(min(128 << 20, max(4 << 20, wanted)))


def shuffle_partitions_for(input_bytes: int, parallelism: int, target_bytes: int = 128 << 20) -> int:
    """About one shuffle partition per 128 MiB of raw text, rounded up to a multiple of the cores
    (the last wave of tasks fills them), at most 2000.

    A row shuffled here is a fraction of its raw text's size, so a partition holds ~40 MB at this
    target. Every job over the cached rows runs one task per partition, and each task costs
    ~15 ms to deserialize and schedule however small it is (docs/benchmarks.md).
    """
    cores = max(1, parallelism)
    wanted = max(1, -(-input_bytes // target_bytes))  # ceiling division
    return min(2000, -(-wanted // cores) * cores)


def unreadable_file(error: Exception) -> UserError | None:
    """The one-line error for a Spark job that failed reading an input file (a truncated or
    corrupt gzip, ...), naming the file; None when `error` is something else.

    Spark raises FAILED_READ_FILE with the file's path for any file a scan cannot read to its end.
    A gzip file is not checked at discovery: that would inflate every byte on the driver before
    the first job, while a broken one is rare and the scan finds it anyway.
    """
    java = getattr(error, "java_exception", None)
    for _ in range(32):  # the cause chain, bounded
        if java is None:
            return None
        condition = _condition(java)
        if condition and condition.startswith("FAILED_READ_FILE"):
            path = java.getMessageParameters().get("path")
            root = java
            while root.getCause() is not None:
                root = root.getCause()
            reason = root.getMessage() or root.getClass().getSimpleName()
            return UserError(f"cannot read {path}: {reason} (a truncated or corrupt file); "
                             "nothing was published")
        java = java.getCause()
    return None


def _condition(java_throwable) -> str | None:
    try:
        return java_throwable.getCondition()  # SparkThrowable; other throwables have none
    except Exception:
        return None
