"""lib/publish.py: each write returns the Delta version it committed, read from the log itself
(lib/storage.py `latest_commit`), and refuses a table whose newest commit is another run's."""
from __future__ import annotations

import pyarrow as pa
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


def test_the_key_state_keeps_row_counts_only_and_an_older_table_gains_the_property(spark, tmp_path):
    """A key-state table collects no per-column statistics (`incremental.STATE_PROPERTIES`):
    created so, and an existing table written before the property is altered by the next full
    overwrite (Delta ignores a property option on an existing table). The clean tables keep
    their statistics."""
    from lib import incremental

    rows = spark.createDataFrame([("o-1", 10), ("o-2", 20), ("o-3", 30)], "order_id string, n int")
    fresh, older = str(tmp_path / "fresh"), str(tmp_path / "older")
    rows.write.format("delta").save(older)  # as a run before the property wrote it
    with publish.commit_metadata(spark, "run-1"):
        assert publish.overwrite_whole(rows, fresh, "run-1", [], incremental.STATE_PROPERTIES) == 0
        assert publish.overwrite_whole(rows, older, "run-1", [], incremental.STATE_PROPERTIES) == 2

    def stats_of(path: str) -> tuple[dict, set[str], int]:
        """The table's properties, the min / max statistics its files have, its rows by them."""
        table = DeltaTable(path)
        adds = pa.table(table.get_add_actions(flatten=True)).to_pylist()
        return (table.metadata().configuration,
                {k for add in adds for k, v in add.items() if k.startswith(("min.", "max.")) and v is not None},
                sum(add["num_records"] for add in adds))

    for path in (fresh, older):
        assert stats_of(path) == ({"delta.dataSkippingNumIndexedCols": "0"}, set(), 3)
    # version 1 of the older table is the ALTER, made by this run
    assert {h["version"]: h.get("userMetadata") for h in DeltaTable(older).history()}[1] == "run-1"
    # a table written without the property keeps min and max per column
    publish.overwrite_whole(rows, str(tmp_path / "clean"), "run-1", [])
    assert stats_of(str(tmp_path / "clean")) == ({}, {"min.order_id", "max.order_id", "min.n", "max.n"}, 3)
