"""File-system steps of the generator through Hadoop's FileSystem, so `--out` may be any path
Spark writes to (local, s3a://, hdfs://, dbfs:/). Only paths the caller names are touched."""
from __future__ import annotations

import re
from collections.abc import Iterable

from pyspark.sql import DataFrame, SparkSession

SPARK_PART = re.compile(r"^part-(\d{5})-.*\.txt(\.gz)?$")
BUFFER_BYTES = 1 << 20


class OutputFiles:
    def __init__(self, spark: SparkSession, root: str):
        jvm = spark._jvm
        self._path_class = jvm.org.apache.hadoop.fs.Path
        self.root = root.rstrip("/")
        fs = self._path_class(self.root).getFileSystem(spark._jsc.hadoopConfiguration())
        # The local file system's checksum layer would leave .crc files next to ours.
        if _is_checksum_fs(fs):
            fs = fs.getRawFileSystem()
        self._fs = fs

    def path(self, *names: str) -> str:
        return "/".join([self.root, *names])

    def _p(self, path: str):
        return self._path_class(path)

    def delete(self, path: str) -> None:
        if self._fs.exists(self._p(path)):
            self._fs.delete(self._p(path), True)

    def mkdirs(self, path: str) -> None:
        self._fs.mkdirs(self._p(path))

    def names(self, folder: str) -> list[str]:
        return sorted(status.getPath().getName() for status in self._fs.listStatus(self._p(folder)))

    def write_text(self, path: str, chunks: Iterable[str]) -> None:
        """Stream text to one file, a megabyte at a time."""
        stream = self._fs.create(self._p(path), True)
        try:
            buffer: list[str] = []
            size = 0
            for chunk in chunks:
                buffer.append(chunk)
                size += len(chunk)
                if size >= BUFFER_BYTES:
                    stream.write(bytearray("".join(buffer).encode("utf-8")))
                    buffer, size = [], 0
            if buffer:
                stream.write(bytearray("".join(buffer).encode("utf-8")))
        finally:
            stream.close()

    def write_parts(self, lines: DataFrame, folder: str, chunks: list[int], *,
                    compress: bool, extension: str) -> None:
        """Write `lines` (partition j = chunk chunks[j]) with Spark, then give each part file the
        name of its chunk: part-00003.jsonl.gz. Spark's own names carry a random job id."""
        staging = self.path("_staging", folder, "gz" if compress else "plain")
        (lines.select("line").write.mode("overwrite")
         .option("compression", "gzip" if compress else "none").text(staging))
        self.mkdirs(self.path(folder))
        for name in self.names(staging):
            match = SPARK_PART.match(name)
            if match is None:
                continue  # _SUCCESS and friends
            chunk = chunks[int(match.group(1))]
            target = f"part-{chunk:05d}.{extension}" + (".gz" if compress else "")
            if not self._fs.rename(self._p(f"{staging}/{name}"), self._p(self.path(folder, target))):
                raise RuntimeError(f"could not move {staging}/{name} to {self.path(folder, target)}")
        self.delete(staging)


def _is_checksum_fs(fs) -> bool:
    cls = fs.getClass()
    while cls is not None:
        if cls.getName() == "org.apache.hadoop.fs.ChecksumFileSystem":
            return True
        cls = cls.getSuperclass()
    return False
