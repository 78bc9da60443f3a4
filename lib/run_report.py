"""One HTML report per run, for people: WAREHOUSE/_reports/<run_id>.html and latest.html.

The pipeline calls `write_run_report` after publishing. Every number on the page is read back
from the published Delta tables (lib/report_data.py), so the report shows what readers of the
tables see; the page itself is lib/report_html.py, its charts lib/report_svg.py.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession

from lib import storage
from lib.publish import table_path
from lib.report_data import SAMPLE_PER_SOURCE, ReportData, RunFacts, read_report_data
from lib.report_html import render

REPORTS_FOLDER = "_reports"
LATEST = "latest.html"


@dataclass(frozen=True)
class RunReport:
    path: str                 # WAREHOUSE/_reports/<run_id>.html
    latest_path: str | None   # WAREHOUSE/_reports/latest.html; None when a newer run exists
    data: ReportData          # what the page shows (the console's closing text reuses it)
    seconds: float            # time to read the tables and write the page


def report_file_name(run_id: str) -> str:
    """`<run_id>.html`, with every character other than letters, digits, `.`, `_` and `-`
    replaced by `_`: a run id is the user's text (--run-id) and must not name another folder."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", run_id).lstrip(".")
    return f"{safe or 'run'}.html"


def _write_local(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a report is for people to open
        os.replace(temporary, path)  # atomic: a reader sees the old page or the new, never half
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _write_hadoop(spark: SparkSession, path: str, text: str) -> None:
    """Through Hadoop's FileSystem (s3a://, hdfs://, dbfs:/). Rename is atomic on HDFS; on an
    object store it is a copy, so a reader may briefly find no file, never a partial one."""
    hadoop_path = spark._jvm.org.apache.hadoop.fs.Path
    target = hadoop_path(path)
    fs = target.getFileSystem(spark._jsc.hadoopConfiguration())
    temporary = hadoop_path(target.getParent(), f".{target.getName()}.{uuid.uuid4().hex}.tmp")
    stream = fs.create(temporary, True)
    try:
        stream.write(bytearray(text.encode("utf-8")))
    finally:
        stream.close()
    fs.delete(target, False)  # HDFS's rename does not replace an existing file
    if not fs.rename(temporary, target):
        fs.delete(temporary, False)
        raise OSError(f"could not move the report into place: {path}")


def write_text_atomically(spark: SparkSession, path: str, text: str) -> None:
    local = storage.local_path(path)
    if local is not None:
        _write_local(local, text)
    else:
        _write_hadoop(spark, path, text)


def write_run_report(spark: SparkSession, warehouse: str, facts: RunFacts,
                     sample_per_source: int = SAMPLE_PER_SOURCE,
                     generated_at: dt.datetime | None = None) -> RunReport:
    """Read this run's numbers back from the tables under `warehouse`, write its page, and make
    it latest.html unless run_log has a run that finished later (a report rebuilt for an old
    run leaves latest.html alone). `generated_at` (UTC, default now) is printed at the foot."""
    started = time.perf_counter()
    data = read_report_data(spark, warehouse, facts.run_id, sample_per_source)
    page = render(facts, data, warehouse, sample_per_source,
                  generated_at=generated_at or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
    folder = table_path(warehouse, REPORTS_FOLDER)
    path = f"{folder}/{report_file_name(facts.run_id)}"
    write_text_atomically(spark, path, page)
    latest = None
    if data.is_newest_run:
        latest = f"{folder}/{LATEST}"
        write_text_atomically(spark, latest, page)
    return RunReport(path, latest, data, time.perf_counter() - started)
