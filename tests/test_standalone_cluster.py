"""A real Spark standalone cluster on loopback runs a job submitted through spark-submit.sh.

The `standalone_cluster` fixture starts one master and two 1-core workers from the installed
PySpark (the pip package has no sbin/start-*.sh, so the daemons are started with spark-class),
waits until both workers are registered, and yields a handle whose `submit(...)` runs
./spark-submit.sh against it. Every daemon and every submission runs in its own process group;
the finalizer kills those groups and then checks that no process of them is left, so a failing
test does not leave JVMs behind for the next run (or for the other people sharing the machine).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pyspark
import pytest
from deltalake import DeltaTable

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(sys.platform != "linux", reason="process-group checks read /proc"),
]

REPO_ROOT = Path(__file__).resolve().parents[1]
SPARK_HOME = Path(pyspark.__file__).resolve().parent
LOOPBACK = "127.0.0.1"
WORKERS = 2
START_TIMEOUT_S = 40
SUBMIT_TIMEOUT_S = 120
STOP_GRACE_S = 10


@dataclass(frozen=True)
class Worker:
    log: Path
    work_dir: Path


@dataclass
class StandaloneCluster:
    master_url: str
    master_ui: str
    master_log: Path
    workers: list[Worker]
    scratch: Path
    _process_groups: list[int] = field(default_factory=list)

    def master_state(self) -> dict:
        with urllib.request.urlopen(f"{self.master_ui}/json/", timeout=5) as response:
            return json.load(response)

    def submit(self, *app_and_args: str, timeout: float = SUBMIT_TIMEOUT_S) -> subprocess.CompletedProcess:
        """Run `./spark-submit.sh --master <this cluster> ... <app_and_args>`; the driver stays on loopback."""
        command = [
            str(REPO_ROOT / "spark-submit.sh"),
            "--master", self.master_url,
            "--conf", f"spark.driver.host={LOOPBACK}",
            "--conf", f"spark.driver.bindAddress={LOOPBACK}",
            "--conf", "spark.executor.memory=512m",
            "--conf", "spark.executor.cores=1",
            "--conf", f"spark.cores.max={WORKERS}",
            "--conf", "spark.ui.enabled=false",
            # Start tasks only once every executor is up, so work is spread over both workers.
            "--conf", "spark.scheduler.minRegisteredResourcesRatio=1.0",
            "--conf", "spark.scheduler.maxRegisteredResourcesWaitingTime=60s",
            *app_and_args,
        ]
        driver = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=_spark_env(self.scratch / "conf"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self._process_groups.append(driver.pid)
        try:
            stdout, stderr = driver.communicate(timeout=timeout)
        finally:
            _stop_group(driver)
        return subprocess.CompletedProcess(command, driver.returncode, stdout, stderr)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


def _spark_env(conf_dir: Path) -> dict[str, str]:
    """The caller's environment without any SPARK_*/PYSPARK_* setting of another install."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SPARK_", "PYSPARK_"))}
    conf_dir.mkdir(parents=True, exist_ok=True)
    env.update(
        SPARK_HOME=str(SPARK_HOME),
        SPARK_LOCAL_IP=LOOPBACK,
        SPARK_CONF_DIR=str(conf_dir),  # empty: no spark-defaults.conf from elsewhere
        SPARK_DAEMON_MEMORY="256m",
    )
    return env


def _start_daemon(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(SPARK_HOME / "bin" / "spark-class"), *args],
            cwd=log.parent,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_for_log(process: subprocess.Popen, log: Path, pattern: str) -> re.Match:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        match = re.search(pattern, log.read_text(errors="replace"))
        if match:
            return match
        if process.poll() is not None:
            break
        time.sleep(0.3)
    raise AssertionError(f"{log.name}: no line matching {pattern!r}:\n{_tail(log)}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _live_members(process_groups: list[int]) -> list[str]:
    """Processes (not zombies) still in any of the groups, as 'pid command' strings."""
    wanted = set(process_groups)
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        # The command name is in parentheses and may itself contain spaces or parentheses.
        state, _ppid, pgrp = text[text.rindex(")") + 2:].split()[:3]
        if int(pgrp) in wanted and state != "Z":
            alive.append(f"{stat.parent.name} {text[text.index('(') + 1:text.rindex(')')]}")
    return alive


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the whole group (a worker's executors are in it too), SIGKILL what outlives the grace."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + STOP_GRACE_S
        while _live_members([process.pid]) and time.monotonic() < deadline:
            process.poll()
            time.sleep(0.2)
        if not _live_members([process.pid]):
            break
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        pass


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("standalone")
    env = _spark_env(scratch / "conf")
    # The master's REST submission server always wants port 6066; nobody here needs it.
    env["SPARK_MASTER_OPTS"] = "-Dspark.master.rest.enabled=false"
    daemons: list[subprocess.Popen] = []
    cluster = None
    try:
        master_log = scratch / "master.log"
        master = _start_daemon(
            ["org.apache.spark.deploy.master.Master", "--host", LOOPBACK,
             "--port", str(_free_port()), "--webui-port", str(_free_port())],
            master_log, env,
        )
        daemons.append(master)
        # Spark moves to the next port if one was taken meanwhile; read the ports it really bound.
        rpc_port = _wait_for_log(master, master_log, r"service 'sparkMaster' on port (\d+)")[1]
        ui_port = _wait_for_log(master, master_log, r"service 'MasterUI' on port (\d+)")[1]
        master_url = f"spark://{LOOPBACK}:{rpc_port}"

        workers = []
        for number in range(1, WORKERS + 1):
            worker = Worker(log=scratch / f"worker-{number}.log", work_dir=scratch / f"work-{number}")
            worker.work_dir.mkdir()
            daemons.append(_start_daemon(
                ["org.apache.spark.deploy.worker.Worker", "--host", LOOPBACK,
                 "--cores", "1", "--memory", "1g", "--webui-port", str(_free_port()),
                 "--work-dir", str(worker.work_dir), master_url],
                worker.log, env,
            ))
            workers.append(worker)

        cluster = StandaloneCluster(
            master_url=master_url,
            master_ui=f"http://{LOOPBACK}:{ui_port}",
            master_log=master_log,
            workers=workers,
            scratch=scratch,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        state: dict = {}
        while time.monotonic() < deadline:
            try:
                state = cluster.master_state()
            except OSError:
                state = {}
            if state.get("url") == master_url and state.get("aliveworkers") == WORKERS:
                break
            assert all(d.poll() is None for d in daemons), "a daemon exited during start-up"
            time.sleep(0.5)
        else:
            raise AssertionError(
                f"{WORKERS} workers did not register in {START_TIMEOUT_S}s: {state}\n"
                + "\n".join(_tail(w.log, 10) for w in workers)
            )
        yield cluster
    finally:
        for daemon in reversed(daemons):
            _stop_group(daemon)
        groups = [d.pid for d in daemons] + (cluster._process_groups if cluster else [])
        leftovers = _live_members(groups)
        assert not leftovers, f"processes left behind by the cluster test: {leftovers}"


def test_job_runs_on_both_workers_and_writes_exact_buckets(standalone_cluster, tmp_path):
    out = tmp_path / "delta"

    run = standalone_cluster.submit("jobs/smoke_job.py", "--out", str(out), "--rows", "1000")

    assert run.returncode == 0, f"spark-submit failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    assert f"smoke_job wrote {out}" in run.stdout

    # bucket b holds ids b, b+10, ..., b+990: 100 rows summing to 100*b + 10*(0+1+...+99).
    expected = [{"bucket": b, "rows": 100, "id_sum": 100 * b + 49_500} for b in range(10)]
    written = DeltaTable(str(out)).to_pyarrow_table().sort_by("bucket").to_pylist()
    assert written == expected

    apps = [a for a in standalone_cluster.master_state()["completedapps"]
            if a["name"] == "chargeback-pipeline-smoke"]
    assert [a["state"] for a in apps] == ["FINISHED"]
    app_id = apps[0]["id"]

    for worker in standalone_cluster.workers:
        assert f"Asked to launch executor {app_id}/" in worker.log.read_text(), worker.log
        executor_logs = sorted((worker.work_dir / app_id).glob("*/stderr"))
        assert executor_logs, f"no executor directory in {worker.work_dir}"
        assert any(re.search(r"Running task \S+ in stage", log.read_text()) for log in executor_logs), (
            f"no task ran on {worker.work_dir.name}:\n" + "\n".join(_tail(log) for log in executor_logs)
        )


def test_pipeline_on_the_cluster_publishes_the_tiny_expected_numbers(standalone_cluster, tmp_path):
    """The real job, submitted to the cluster: the hand-derived counts and metrics of the tiny
    raw zone (bench/fixtures/tiny_expected.json), read back with delta-rs (no Spark here)."""
    expected = json.loads((REPO_ROOT / "bench" / "fixtures" / "tiny_expected.json").read_text())
    raw = tmp_path / "raw"
    shutil.copytree(REPO_ROOT / "bench" / "fixtures" / "tiny", raw)
    warehouse = tmp_path / "warehouse"

    run = standalone_cluster.submit(
        "--conf", "spark.sql.shuffle.partitions=2",
        "jobs/pipeline.py", "--input", str(raw), "--warehouse", str(warehouse),
        "--as-of", "2026-11-01T00:00:00Z",
        timeout=600,
    )

    assert run.returncode == 0, f"pipeline failed:\n{run.stdout}\n{run.stderr[-4000:]}"
    assert f"chargeback-pipeline: published to {warehouse}" in run.stdout
    apps = [a for a in standalone_cluster.master_state()["completedapps"] if a["name"] == "chargeback-pipeline"]
    assert [a["state"] for a in apps] == ["FINISHED"]

    counts = ("rows_read", "rows_valid", "rows_quarantined", "duplicates_dropped")
    run_log = DeltaTable(str(warehouse / "run_log")).to_pyarrow_table().to_pylist()
    assert {r["source"]: {c: r[c] for c in counts} for r in run_log} == {
        s: expected[s] for s in ("orders", "transactions", "chargebacks")}

    payment_metrics = DeltaTable(str(warehouse / "payment_metrics")).to_pyarrow_table().to_pylist()
    as_json = [{**r, "txn_date": r["txn_date"].isoformat(), "completed_volume_usd": str(r["completed_volume_usd"]),
                "failed_volume_usd": str(r["failed_volume_usd"])} for r in payment_metrics]
    order = lambda r: (r["txn_date"], r["payment_method"])  # noqa: E731
    assert sorted(as_json, key=order) == sorted(expected["payment_metrics"], key=order)

    chargeback_metrics = DeltaTable(str(warehouse / "chargeback_metrics")).to_pyarrow_table().to_pylist()
    columns = list(expected["chargeback_metrics_nonzero"][0])
    nonzero = [{c: (r[c].isoformat() if c == "txn_date" else str(r[c]) if c == "disputed_amount_usd" else r[c])
                for c in columns} for r in chargeback_metrics if r["chargeback_count"] > 0]
    assert sorted(nonzero, key=order) == sorted(expected["chargeback_metrics_nonzero"], key=order)
