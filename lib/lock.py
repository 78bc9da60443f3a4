"""One run at a time per warehouse: the lock file `WAREHOUSE/_lock`.

A run creates the lock before it reads anything and deletes it when it ends, on errors too. The
file is created so that exactly one of two runs racing for it gets it: on a local path by a hard
link of a complete file (`link(2)` fails when the name exists); on any other file system Spark
reads by Hadoop's `FileSystem.create(path, overwrite=false)` (atomic on HDFS and on object stores
with conditional writes). It holds the run id, host, pid and start time of its holder as JSON.

A lock whose holder is a process of this host that no longer lives (killed, crashed) is stale: the
next run takes it over. A lock of another host cannot be checked from here; it stays until that
run ends or someone deletes it (the error message says which run and where).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import socket
import time
from dataclasses import asdict, dataclass

from pyspark.sql import SparkSession

LOCK_FILE = "_lock"


@dataclass(frozen=True)
class Holder:
    run_id: str
    host: str
    pid: int
    started_at: str
    pid_started: str | None = None  # the process's start tick on Linux: a reused pid is not the holder

    def describe(self) -> str:
        return f"run {self.run_id} (host {self.host}, pid {self.pid}, started {self.started_at})"

    @property
    def alive(self) -> bool:
        """Whether the holder still runs; True when it cannot be known (another host)."""
        if self.host != socket.gethostname():
            return True
        return _process_start(self.pid) is not None and (
            self.pid_started is None or _process_start(self.pid) == self.pid_started)


class WarehouseLocked(Exception):
    def __init__(self, path: str, holder: Holder | None):
        self.path, self.holder = path, holder
        who = holder.describe() if holder else "a run whose lock file is empty or unreadable"
        super().__init__(f"warehouse is locked by {who}: {path} (one run at a time; delete the "
                         "file only if that run is no longer running)")


@dataclass(frozen=True)
class Lock:
    path: str
    holder: Holder
    taken_over: Holder | None  # the dead run whose stale lock this run took


def lock_path(warehouse: str) -> str:
    return f"{warehouse.rstrip('/')}/{LOCK_FILE}"


def acquire(spark: SparkSession, warehouse: str, run_id: str) -> Lock:
    """Take the warehouse's lock for `run_id`, taking over a stale one; raise WarehouseLocked."""
    store = _Store(spark, lock_path(warehouse))
    me = Holder(run_id=run_id, host=socket.gethostname(), pid=os.getpid(),
                started_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                pid_started=_process_start(os.getpid()))
    if store.create(_encode(me)):
        return Lock(store.path, me, None)
    holder = _read_holder(store)
    if holder is None or holder.alive:
        raise WarehouseLocked(store.path, holder)
    # Stale: delete it only if it is still the dead run's (another run may have just taken it).
    if _read_holder(store) == holder:
        store.delete()
    if store.create(_encode(me)):
        return Lock(store.path, me, holder)
    raise WarehouseLocked(store.path, _read_holder(store))


def release(spark: SparkSession, lock: Lock) -> None:
    """Delete the lock if it is still this run's."""
    store = _Store(spark, lock.path)
    if _read_holder(store) == lock.holder:
        store.delete()


def _encode(holder: Holder) -> bytes:
    return json.dumps(asdict(holder), sort_keys=True).encode()


def _read_holder(store: "_Store", attempts: int = 3) -> Holder | None:
    """The holder, or None when the file is gone or (still) unreadable: a lock created through
    Hadoop is empty until its creator has written it, so an unreadable one is read again."""
    for attempt in range(attempts):
        data = store.read()
        if data is None:
            return None
        try:
            return Holder(**json.loads(data))
        except (ValueError, TypeError):
            time.sleep(0.2 * (attempt + 1))
    return None


def _process_start(pid: int) -> str | None:
    """The start tick of a live process (field 22 of /proc/PID/stat), None when it is gone or a
    zombie; "?" where /proc is not there but the process answers a signal."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else fields[19]
    except FileNotFoundError:
        if not os.path.isdir("/proc/self"):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return None
            except PermissionError:
                pass
            return "?"
        return None


class _Store:
    """The lock file on the warehouse's file system: a local file, or Hadoop's."""

    def __init__(self, spark: SparkSession, path: str):
        jvm = spark.sparkContext._jvm
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        self._fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        qualified = self._fs.makeQualified(hadoop_path)
        self._hadoop_path = qualified
        self.path = qualified.toString()
        self._local = qualified.toUri().getPath() if self._fs.getScheme() == "file" else None

    def create(self, data: bytes) -> bool:
        if self._local is not None:
            os.makedirs(os.path.dirname(self._local), exist_ok=True)
            draft = f"{self._local}.{os.getpid()}.{time.monotonic_ns()}"
            with open(draft, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(draft, self._local)
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(draft)
        try:
            out = self._fs.create(self._hadoop_path, False)
        except Exception as error:  # py4j wraps FileAlreadyExistsException
            if "FileAlreadyExists" in str(error) or self._fs.exists(self._hadoop_path):
                return False
            raise
        try:
            out.write(bytearray(data))
        finally:
            out.close()
        return True

    def read(self) -> bytes | None:
        if self._local is not None:
            try:
                with open(self._local, "rb") as lock:
                    return lock.read()
            except FileNotFoundError:
                return None
        if not self._fs.exists(self._hadoop_path):
            return None
        stream = self._fs.open(self._hadoop_path)
        try:
            return bytes(stream.readAllBytes())
        finally:
            stream.close()

    def delete(self) -> None:
        if self._local is not None:
            try:
                os.unlink(self._local)
            except FileNotFoundError:
                pass
        else:
            self._fs.delete(self._hadoop_path, False)
