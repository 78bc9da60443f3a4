"""lib/publish.py: each write returns the Delta version it committed, read from the log itself
(lib/storage.py `latest_commit`), and refuses a table whose newest commit is another run's."""
from __future__ import annotations

import pytest
from deltalake import DeltaTable

from lib import publish, storage


def test_each_write_returns_its_own_version_and_a_foreign_commit_is_refused(spark, tmp_path):
    path = str(tmp_path / "run_log")
    def rows(run_id: str):
        return spark.createDataFrame([(run_id, "orders", 1), (run_id, "chargebacks", 2)],
                                     "run_id string, source string, n int")

    assert publish.replace_run(spark, rows("run-1"), path, "run-1", ["source"]) == 0
    assert publish.replace_run(spark, rows("run-1"), path, "run-1", ["source"]) == 1
    assert publish.append(rows("run-2"), path, "run-2") == 2
    assert storage.latest_commit(spark, path) == (2, "run-2")
    # delta-rs reads the same log: version 2 is run-2's, version 1 run-1's
    history = {h["version"]: h.get("userMetadata") for h in DeltaTable(path).history()}
    assert history == {0: "run-1", 1: "run-1", 2: "run-2"}

    with pytest.raises(RuntimeError, match=r"latest commit \(version 2\) is not run run-1's "
                                           r"but run run-2's: another writer"):
        publish.committed_version(spark, path, "run-1")


def test_a_folder_without_a_delta_log_is_an_error(spark, tmp_path):
    (tmp_path / "empty" / "_delta_log").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="no Delta commit"):
        storage.latest_commit(spark, str(tmp_path / "empty"))
