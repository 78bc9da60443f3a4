"""Kill the job at every stage, then rerun: nothing lost, nothing doubled, nothing half-visible.

Every run goes through ./spark-submit.sh in a session of its own (start_new_session) with
CHARGEBACK_FAIL_AT naming the point where the driver's process group dies by SIGKILL
(lib/faults.py). After each kill, every table a reader can open is read with Spark and with
delta-rs and must be a complete version: the one before the kill (absent, on an empty warehouse)
or the uninterrupted run's. The table being published when the kill landed must not have moved.

Spark runs are the expensive part (2 shared cores), so the kills are chained: each killed run is
followed by the next killed run, which must get past the previous one's wreckage (its stale lock,
its staged rows, its half-written files), and each chain ends with one rerun to completion that
must publish exactly what the uninterrupted reference run published.

- on an empty warehouse, every run with a new run id (the default): a killed run stays in run_log
  as `publishing`;
- over a warehouse already published (another input), every run with the same --run-id: the rerun
  replaces the killed run's `publishing` rows by its `completed` ones.

The reference run also carries secret-looking values in its environment and writes Spark's event
log: none of them may reach its output, the event log or any file under the warehouse.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from pyspark.errors import AnalysisException

from jobs.generate_data import main as generate_main
from jobs.pipeline import main as pipeline_main
from lib import faults, lock

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = REPO_ROOT / "bench" / "fixtures" / "tiny"
AS_OF = "2026-11-01T00:00:00Z"
TABLES = ("transactions", "orders", "chargebacks", "quarantine", "dq_results", "run_log",
          "payment_metrics", "chargeback_metrics",
          # what incremental runs read (lib/incremental.py): replaced whole by a full run
          "processed_files", "_state/orders", "_state/transactions", "_state/chargebacks")
PER_RUN = ("dq_results", "run_log")  # one set of rows per run; the others are replaced whole
PUBLISHED = tuple(t for t in TABLES if t != "run_log")  # what run_log.table_versions names
# Columns that differ from run to run of the same input; compared nowhere.
PER_RUN_COLUMNS = {
    "quarantine": {"run_id", "quarantined_at"},
    "processed_files": {"run_id", "processed_at"},
    # a line the reader rejected is its own version, hashed by its file and the run's row id
    **{f"_state/{s}": {"_content"} for s in ("orders", "transactions", "chargebacks")},
    "dq_results": {"run_id"},
    # the totals, like the versions, are filled in when the run completes
    "run_log": {"run_id", "started_at", "finished_at", "status", "table_versions", "total_rows_read",
                "total_rows_valid", "total_rows_quarantined", "total_duplicates_dropped"},
}
# One point per kind of moment: the tables of one parallel group are written alike, so one of
# them stands for the group (publish:quarantine, publish:payment_metrics, publish:chargebacks and
# publish:chargeback_metrics were dropped for the incremental kills' time in CI).
KILLED_ON_EMPTY = ("reading", "publish:orders", "metrics")
KILLED_OVER_PUBLISHED = ("validated", "publish:transactions", "publish:dq_results", "publish:run_log")
# An incremental run killed before it publishes, during its write of the key state, and during
# its write of the chargeback metrics (both beside the clean tables' and the quarantine's writes):
# the rerun must publish what one full run does.
KILLED_INCREMENTAL = ("validated", "publish:_state/transactions", "publish:chargeback_metrics")
# Secret-looking values planted in the environment of the reference run.
CANARIES = {
    "AWS_ACCESS_KEY_ID": "AKIACBPCANARY0000001",
    "AWS_SECRET_ACCESS_KEY": "cbpSECRETcanary123",
    "AWS_SESSION_TOKEN": "cbpSESSIONcanary456",
}

pytestmark = pytest.mark.e2e


# --- running the job -----------------------------------------------------------------------------
def submit(raw: Path, warehouse: Path, *extra: str, fail_at: str | None = None,
           env: dict[str, str] | None = None, conf: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """One spark-submit run in a process group of its own; a kill takes the whole group."""
    environment = {k: v for k, v in os.environ.items() if k != faults.FAIL_AT}
    environment.update(env or {})
    if fail_at:
        environment[faults.FAIL_AT] = fail_at
    command = [str(REPO_ROOT / "spark-submit.sh"), "--master", "local[2]",
               "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=2", *conf,
               "jobs/pipeline.py", "--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF, *extra]
    process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=1200)  # a busy shared machine
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # whatever the run left behind in its group
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(command, process.returncode, out, err)


def generate(out: Path, seed: int, rows: int) -> Path:
    assert generate_main([
        "--out", str(out), "--rows", str(rows), "--format", "jsonl", "--seed", str(seed), "--as-of", AS_OF,
        "--defect-rate", "0.05", "--chargeback-rate", "0.2",
        "--reason-codes", str(REPO_ROOT / "conf" / "reason_codes.csv"),
        "--fx-rates", str(REPO_ROOT / "conf" / "fx_rates.csv"),
    ]) == 0
    return out


# --- reading a warehouse the way readers do --------------------------------------------------------
def canonical(value):
    """A value as both readers give it: Spark's Rows and naive local datetimes, delta-rs's dicts
    and UTC-aware datetimes, maps as dicts or lists of pairs."""
    if hasattr(value, "asDict"):
        value = value.asDict(recursive=True)
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if isinstance(value, (dt.date, Decimal)):
        return str(value)
    return value


def row_key(row: dict, table: str) -> str:
    return json.dumps({k: canonical(v) for k, v in row.items() if k not in PER_RUN_COLUMNS.get(table, ())},
                      sort_keys=True)


# (table folder, version) -> its rows as Spark reads them: a Delta version never changes, so a
# version read once is not read again (Spark reads are the slow part of the checks).
SPARK_ROWS: dict[tuple[str, int], list[dict]] = {}


def spark_rows(spark, path: Path, version: int) -> list[dict]:
    key = (str(path), version)
    if key not in SPARK_ROWS:
        frame = spark.read.format("delta").option("versionAsOf", version).load(str(path))
        SPARK_ROWS[key] = [r.asDict(recursive=True) for r in frame.collect()]
    return SPARK_ROWS[key]


class TableState:
    """One table as a reader finds it: absent, or a version with its rows (by Spark and by
    delta-rs, which must agree), and for tables keeping every run, each run's rows."""

    def __init__(self, spark, path: Path, table: str):
        self.table = table
        try:
            delta = DeltaTable(str(path))
        except TableNotFoundError:
            delta = None
        if delta is None:
            if path.exists():  # Spark must not find a table in a dead writer's files either
                with pytest.raises(AnalysisException):
                    spark.read.format("delta").load(str(path)).collect()
            self.version = self.rows = self.runs = self.latest_run = self.run_rows = None
            return
        self.version = delta.version()
        by_spark = spark_rows(spark, path, self.version)
        self.latest_run = delta.history(1)[0].get("userMetadata")
        by_delta_rs = delta.to_pyarrow_table().to_pylist()
        self.rows = Counter(row_key(r, table) for r in by_spark)
        assert Counter(row_key(r, table) for r in by_delta_rs) == self.rows, (table, "Spark and delta-rs differ")
        self.runs = None
        if table in PER_RUN:
            self.runs = {}
            for row in by_spark:
                self.runs.setdefault(row["run_id"], Counter())[row_key(row, table)] += 1
        self.run_rows = [r for r in by_spark] if table == "run_log" else None

    @property
    def exists(self) -> bool:
        return self.version is not None


def read_warehouse(spark, warehouse: Path) -> dict[str, TableState]:
    return {t: TableState(spark, warehouse / t, t) for t in TABLES}


def run_statuses(state: TableState) -> dict[str, set[str]]:
    """run_id -> the statuses of its run_log rows (one per source)."""
    statuses: dict[str, set[str]] = {}
    for row in state.run_rows or []:
        statuses.setdefault(row["run_id"], set()).add(row["status"])
    return statuses


def one_run_rows(state: TableState) -> Counter:
    """The rows of the only run in a per-run table (without the per-run columns)."""
    assert len(state.runs) == 1, state.runs.keys()
    return next(iter(state.runs.values()))


def lock_holder(warehouse: Path) -> dict:
    return json.loads((warehouse / lock.LOCK_FILE).read_text())


# --- fixtures: the input, the uninterrupted reference run, a warehouse published before ----------
@pytest.fixture(scope="module")
def inputs(spark, tmp_path_factory) -> dict[str, Path]:
    assert faults.FAIL_AT not in os.environ
    base = tmp_path_factory.mktemp("kills")
    # the tables published before the kills come from another input: the hand-made tiny raw zone
    return {"new": generate(base / "raw", seed=7, rows=300), "old": shutil.copytree(TINY, base / "raw_old")}


@pytest.fixture(scope="module")
def reference(spark, inputs, tmp_path_factory):
    """The uninterrupted run every rerun must equal, with secrets planted in its environment and
    Spark's event log written beside it."""
    base = tmp_path_factory.mktemp("reference")
    warehouse, event_log = base / "warehouse", base / "event_log"
    event_log.mkdir()
    started = time.perf_counter()
    run = submit(inputs["new"], warehouse, env=CANARIES,
                 conf=("--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir={event_log}"))
    assert run.returncode == 0, run.stderr[-4000:]
    print(f"reference run: {time.perf_counter() - started:.0f} s")
    return {"run": run, "warehouse": warehouse, "event_log": event_log, "state": read_warehouse(spark, warehouse)}


@pytest.fixture(scope="module")
def old_warehouse(spark, inputs, tmp_path_factory):
    """Tables published from another input (in this process: it only sets the stage)."""
    warehouse = tmp_path_factory.mktemp("published") / "warehouse"
    assert pipeline_main(["--input", str(inputs["old"]), "--warehouse", str(warehouse), "--as-of", AS_OF,
                          "--run-id", "old-run"], spark=spark) == 0
    return warehouse, read_warehouse(spark, warehouse)


# --- the checks ----------------------------------------------------------------------------------
def assert_complete_version(table: str, state: TableState, old: TableState | None, new: TableState) -> None:
    """A replaced table is the old version (or absent, when there was none) or the new one; a
    table keeping every run holds, per run, a complete set of rows of one of the two inputs."""
    if not state.exists:
        assert old is None or not old.exists, f"{table}: gone after the kill"
        return
    if table in PER_RUN:
        complete = [one_run_rows(new)] + ([old.runs["old-run"]] if old is not None and old.exists else [])
        for run_id, rows in state.runs.items():
            assert rows in complete, f"{table}: run {run_id} has a set of rows of neither input"
        if old is not None and old.exists:
            assert state.runs["old-run"] == old.runs["old-run"], f"{table}: the earlier run's rows changed"
        return
    versions = [new.rows] + ([old.rows] if old is not None and old.exists else [])
    assert state.rows in versions, f"{table}: {sum(state.rows.values())} rows, neither the old nor the new version"


def assert_killed_at(point: str, before: dict[str, TableState], after: dict[str, TableState], run_id: str) -> None:
    """What the kill point says about the tables: nothing of this run's before the publish; the
    table whose write was under way did not move; run_log never says completed."""
    statuses = run_statuses(after["run_log"]) if after["run_log"].exists else {}
    assert statuses.get(run_id, {"publishing"}) == {"publishing"}, (point, statuses.get(run_id))
    if point in ("reading", "validated"):
        for table in TABLES:
            assert after[table].version == before[table].version, (point, table, "changed before the publish")
        assert run_id not in statuses
        return
    # past the audit: run_log said `publishing` for this run before the first table was written
    assert statuses[run_id] == {"publishing"}
    assert all(r["table_versions"] is None and r["finished_at"] is None
               for r in after["run_log"].run_rows if r["run_id"] == run_id)
    if point == "publish:run_log":
        # the last write: every other table is this run's, only run_log's `completed` is missing
        for table in PUBLISHED:
            assert after[table].latest_run == run_id, (point, table)
        return
    killed = ("payment_metrics", "chargeback_metrics") if point == "metrics" else (point.split(":", 1)[1],)
    for table in killed:
        assert after[table].version == before[table].version, (point, table, "committed although killed")


def assert_equal_to_reference(after: dict[str, TableState], reference: dict[str, TableState], run_id: str) -> None:
    """Every table as the uninterrupted run published it: replaced tables whole, per-run tables
    this run's rows; run_log says completed with the versions the tables are at."""
    for table in TABLES:
        if table in PER_RUN:
            assert after[table].runs[run_id] == one_run_rows(reference[table]), table
        else:
            assert after[table].rows == reference[table].rows, table
    mine = [r for r in after["run_log"].run_rows if r["run_id"] == run_id]
    assert {r["status"] for r in mine} == {"completed"}
    assert {json.dumps(r["table_versions"], sort_keys=True) for r in mine} == {
        json.dumps({t: after[t].version for t in PUBLISHED}, sort_keys=True)}
    for table in PUBLISHED:
        assert after[table].latest_run == run_id, table


def kill_chain(spark, raw: Path, warehouse: Path, points, reference, old, run_id_args: tuple[str, ...]):
    """Kill a run at each point in turn, checking the tables after each kill; return the run ids."""
    killed_ids = []
    for point in points:
        before = read_warehouse(spark, warehouse)
        started = time.perf_counter()
        run = submit(raw, warehouse, *run_id_args, fail_at=point)
        print(f"killed at {point}: {time.perf_counter() - started:.0f} s")
        assert run.returncode == -signal.SIGKILL, (point, run.returncode, run.stderr[-3000:])
        assert "Traceback" not in run.stderr
        holder = lock_holder(warehouse)  # left behind by the dead run: stale now
        assert not lock.Holder(**holder).alive
        after = read_warehouse(spark, warehouse)
        for table in TABLES:
            assert_complete_version(table, after[table], old[table] if old else None, reference[table])
        assert_killed_at(point, before, after, holder["run_id"])
        if point == "validated":
            staged = warehouse / "_staging" / holder["run_id"]
            assert sorted(p.name for p in staged.iterdir()) == ["chargebacks", "orders", "transactions"]
        killed_ids.append(holder["run_id"])
    return killed_ids


def assert_clean_after(warehouse: Path) -> None:
    assert not (warehouse / lock.LOCK_FILE).exists()
    staging = warehouse / "_staging"
    assert not staging.exists() or list(staging.iterdir()) == [], list(staging.iterdir())


# --- the tests -----------------------------------------------------------------------------------
def test_reference_run_records_its_table_versions_and_run_id_on_every_commit(reference):
    state, warehouse = reference["state"], reference["warehouse"]
    [run_id] = run_statuses(state["run_log"])
    assert run_statuses(state["run_log"]) == {run_id: {"completed"}}
    rows = state["run_log"].run_rows
    assert sorted(r["source"] for r in rows) == ["chargebacks", "orders", "transactions"]
    # on an empty warehouse every table is at version 0; run_log at 1 (`publishing`, then `completed`)
    assert [r["table_versions"] for r in rows] == [{t: 0 for t in PUBLISHED}] * 3
    assert all(r["started_at"] < r["finished_at"] for r in rows)
    assert state["run_log"].version == 1
    for table in TABLES:
        history = DeltaTable(str(warehouse / table)).history()
        assert [h.get("userMetadata") for h in history] == [run_id] * len(history), table
    assert_clean_after(warehouse)


def test_no_secret_from_the_environment_reaches_logs_or_tables(reference):
    run, warehouse, event_log = reference["run"], reference["warehouse"], reference["event_log"]
    files = [p for p in [*warehouse.rglob("*"), *event_log.rglob("*")] if p.is_file()]
    assert [p for p in files if event_log in p.parents], "no event log was written"
    texts = {"stdout": run.stdout.encode(), "stderr": run.stderr.encode()}
    texts.update({str(p): p.read_bytes() for p in files})
    # the tables' values as text too (a compressed Parquet page would hide a value from a byte search)
    texts.update({f"table {t}": json.dumps(DeltaTable(str(warehouse / t)).to_pyarrow_table().to_pylist(),
                                           default=str).encode() for t in TABLES})
    for name, secret in CANARIES.items():
        leaks = [where for where, data in texts.items() if secret.encode().lower() in data.lower()]
        assert leaks == [], (name, leaks)
    assert len(files) > 50  # the search saw the tables' data and logs, not an empty folder


def test_kills_on_an_empty_warehouse_then_a_rerun_equals_an_uninterrupted_run(spark, inputs, reference,
                                                                             tmp_path):
    warehouse = tmp_path / "warehouse"
    killed_ids = kill_chain(spark, inputs["new"], warehouse, KILLED_ON_EMPTY, reference["state"], None, ())

    rerun = submit(inputs["new"], warehouse)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert f"took over the stale lock of run {killed_ids[-1]}" in rerun.stdout
    after = read_warehouse(spark, warehouse)
    statuses = run_statuses(after["run_log"])
    [run_id] = [r for r, s in statuses.items() if s == {"completed"}]
    assert run_id not in killed_ids
    assert_equal_to_reference(after, reference["state"], run_id)
    # the killed runs that got as far as publishing stay in run_log, never completed
    assert {r: s for r, s in statuses.items() if r != run_id} == {
        r: {"publishing"} for r in killed_ids[1:]}
    assert_clean_after(warehouse)


def test_kills_over_published_tables_then_a_rerun_with_the_same_run_id_equals_an_uninterrupted_run(
        spark, inputs, reference, old_warehouse, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(old_warehouse[0], warehouse)
    old = old_warehouse[1]
    assert all(old[t].rows != reference["state"][t].rows for t in TABLES if t not in PER_RUN)
    same_run = ("--run-id", "retried-run")
    assert kill_chain(spark, inputs["new"], warehouse, KILLED_OVER_PUBLISHED, reference["state"], old,
                      same_run) == ["retried-run"] * len(KILLED_OVER_PUBLISHED)

    rerun = submit(inputs["new"], warehouse, *same_run)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    after = read_warehouse(spark, warehouse)
    assert run_statuses(after["run_log"]) == {"old-run": {"completed"}, "retried-run": {"completed"}}
    assert_equal_to_reference(after, reference["state"], "retried-run")
    assert after["dq_results"].runs["old-run"] == old["dq_results"].runs["old-run"]
    assert set(after["dq_results"].runs) == {"old-run", "retried-run"}
    assert_clean_after(warehouse)

    # A consistent set by time travel: the earlier run's recorded versions give its tables back,
    # with Spark and with delta-rs, although every table has been replaced since.
    [versions] = {json.dumps(r["table_versions"]) for r in after["run_log"].run_rows if r["run_id"] == "old-run"}
    for table, version in json.loads(versions).items():
        if table in PER_RUN:
            continue
        by_spark = spark.read.format("delta").option("versionAsOf", version).load(str(warehouse / table))
        assert Counter(row_key(r.asDict(recursive=True), table) for r in by_spark.collect()) == old[table].rows
        by_delta_rs = DeltaTable(str(warehouse / table), version=version).to_pyarrow_table().to_pylist()
        assert Counter(row_key(r, table) for r in by_delta_rs) == old[table].rows, table


def test_a_killed_incremental_run_then_a_rerun_equals_one_full_run_over_every_file(spark, inputs, tmp_path):
    """A raw zone that grows by a day: yesterday's warehouse, then today's incremental run killed
    before it publishes and, from yesterday's warehouse again, twice half-way through
    publishing; the rerun (which finds the half-published run and rebuilds in full) publishes
    exactly what one full run over every file does. While killed, every replaced table is yesterday's version or that one."""
    raw, yesterday = tmp_path / "raw", []
    for source in ("orders", "transactions", "chargebacks"):
        first, *rest = sorted((inputs["new"] / source).iterdir())
        (raw / source).mkdir(parents=True)
        shutil.copy2(first, raw / source / first.name)
        yesterday += [(part, raw / source / part.name) for part in rest]
    warehouse, full = tmp_path / "warehouse", tmp_path / "full"
    assert pipeline_main(["--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF,
                          "--run-id", "old-run"], spark=spark) == 0
    old = read_warehouse(spark, warehouse)
    for part, target in yesterday:
        shutil.copy2(part, target)
    assert pipeline_main(["--input", str(raw), "--warehouse", str(full), "--as-of", AS_OF], spark=spark) == 0
    reference = read_warehouse(spark, full)
    replaced = [t for t in TABLES if t not in PER_RUN]
    assert all(old[t].rows != reference[t].rows for t in replaced)

    daily = ("--mode", "incremental", "--run-id", "daily-run")
    yesterdays = Path(shutil.copytree(warehouse, tmp_path / "yesterdays"))
    for point in KILLED_INCREMENTAL:
        # each kill starts from yesterday's warehouse (a run after a kill half-way through
        # publishing rebuilds in full); the rerun below starts from the last one's
        shutil.rmtree(warehouse)
        shutil.copytree(yesterdays, warehouse)
        before = read_warehouse(spark, warehouse)
        run = submit(raw, warehouse, *daily, fail_at=point)
        assert run.returncode == -signal.SIGKILL, (point, run.returncode, run.stderr[-3000:])
        assert "incremental run: 3 new file(s)" in run.stdout, run.stdout[-2000:]
        after = read_warehouse(spark, warehouse)
        for table in replaced:
            assert after[table].rows in (old[table].rows, reference[table].rows), (point, table)
        assert after["dq_results"].runs.keys() <= {"old-run", "daily-run"}
        if point == "validated":
            assert all(after[t].version == before[t].version for t in TABLES), point
        else:
            killed_table = point.removeprefix("publish:")
            assert after[killed_table].version == before[killed_table].version
            assert run_statuses(after["run_log"])["daily-run"] == {"publishing"}

    rerun = submit(raw, warehouse, *daily)
    assert rerun.returncode == 0, rerun.stderr[-4000:]
    assert "run daily-run did not complete: rebuilding in full" in rerun.stdout
    after = read_warehouse(spark, warehouse)
    for table in replaced:
        assert after[table].rows == reference[table].rows, table
    assert run_statuses(after["run_log"]) == {"old-run": {"completed"}, "daily-run": {"completed"}}
    assert after["run_log"].runs["daily-run"] == one_run_rows(reference["run_log"])
    assert_clean_after(warehouse)


def test_a_second_run_stops_with_exit_4_while_another_holds_the_lock(spark, inputs, reference, tmp_path):
    warehouse = tmp_path / "warehouse"
    shutil.copytree(reference["warehouse"], warehouse)
    held = lock.acquire(spark, str(warehouse), "first-run")  # this process: a live run
    try:
        second = submit(inputs["new"], warehouse)
        holder_text = (warehouse / lock.LOCK_FILE).read_text()
    finally:
        lock.release(spark, held)
    assert second.returncode == 4, second.stderr[-3000:]
    # Under spark-submit the driver's stderr is merged into its stdout (Spark's PythonRunner):
    # the one line may arrive on either, and must arrive once.
    output = second.stdout + second.stderr
    lines = [line for line in output.splitlines() if line.startswith("pipeline:")]
    assert lines == [f"pipeline: warehouse is locked by run first-run (host {held.holder.host}, pid "
                     f"{os.getpid()}, started {held.holder.started_at}): file:{warehouse}/_lock (one run at "
                     "a time; delete the file only if that run is no longer running)"]
    assert "Traceback" not in output and "published to" not in output
    assert json.loads(holder_text)["run_id"] == "first-run"  # not taken over
    after = read_warehouse(spark, warehouse)
    for table in TABLES:  # neither mixed nor doubled: the first run's tables, untouched
        assert after[table].version == reference["state"][table].version, table
        assert after[table].rows == reference["state"][table].rows, table
    assert_clean_after(warehouse)


# --- the lock itself (no run) ---------------------------------------------------------------------
def test_of_runs_racing_for_the_lock_exactly_one_gets_it(spark, tmp_path):
    outcomes: dict[str, object] = {}
    start = threading.Barrier(8)

    def take(run_id: str) -> None:
        start.wait()
        try:
            outcomes[run_id] = lock.acquire(spark, str(tmp_path / "warehouse"), run_id)
        except lock.WarehouseLocked as error:
            outcomes[run_id] = error

    threads = [threading.Thread(target=take, args=(f"run-{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes.values() if isinstance(o, lock.Lock)]
    assert len(winners) == 1 and len(outcomes) == 8
    assert lock_holder(tmp_path / "warehouse")["run_id"] == winners[0].holder.run_id
    for error in outcomes.values():
        if isinstance(error, lock.WarehouseLocked):
            assert error.holder == winners[0].holder
    lock.release(spark, winners[0])
    assert sorted(p.name for p in (tmp_path / "warehouse").iterdir()) == []


def test_a_dead_runs_lock_is_taken_over_and_another_hosts_is_not(spark, tmp_path):
    warehouse = tmp_path / "warehouse"
    warehouse.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = {"run_id": "dead-run", "host": lock.socket.gethostname(), "pid": dead.pid,
             "started_at": "2026-12-01T00:00:00+00:00", "pid_started": None}
    (warehouse / "_lock").write_text(json.dumps(stale))
    taken = lock.acquire(spark, str(warehouse), "next-run")
    assert taken.taken_over == lock.Holder(**stale)
    assert lock_holder(warehouse)["run_id"] == "next-run"
    lock.release(spark, taken)
    assert not (warehouse / "_lock").exists()

    elsewhere = dict(stale, host="another-host.example")
    (warehouse / "_lock").write_text(json.dumps(elsewhere))
    with pytest.raises(lock.WarehouseLocked) as refused:
        lock.acquire(spark, str(warehouse), "next-run")
    assert refused.value.holder == lock.Holder(**elsewhere)
    assert lock_holder(warehouse) == elsewhere


def test_the_lock_through_hadoops_file_system_is_created_once(spark, tmp_path):
    """The path every non-local warehouse takes (HDFS, object stores): FileSystem.create with
    overwrite=false, here on the local file system's Hadoop client."""
    store = lock._Store(spark, str(tmp_path / "warehouse" / lock.LOCK_FILE))
    store._local = None  # go through Hadoop as for s3a:// or hdfs://
    assert store.create(b'{"run_id": "first"}') is True
    assert store.create(b'{"run_id": "second"}') is False
    assert store.read() == b'{"run_id": "first"}'
    store.delete()
    assert store.read() is None
