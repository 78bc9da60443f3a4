"""User mistakes end with one line, `pipeline: ...`, exit status 2, no traceback, nothing written.

In-process through `jobs.pipeline.main(argv, spark)`. Mistakes a look at the arguments or the local
disk shows are caught before a SparkSession is built: those tests pass no session and make
`build_session` fail the test if the job reaches it. A source missing from the input folder is
found by the first listing through Hadoop (any file system), so that test passes the shared session.

One test runs a mistake through ./spark-submit.sh, where Spark's PythonRunner merges the driver's
stderr into its own stdout (`redirectErrorStream`): there the line arrives on stdout, and every
line on stderr is the JVM's or Spark's own log.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from jobs import pipeline
from jobs.pipeline import main as pipeline_main

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = REPO_ROOT / "bench" / "fixtures" / "tiny"
AS_OF = "2026-11-01T00:00:00Z"
HELP = " (--help lists the options)"


@pytest.fixture
def no_session(monkeypatch):
    """The job must stop before it starts Spark: building a session fails the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the job built a SparkSession before finding the mistake")
    monkeypatch.setattr(pipeline, "build_session", forbidden)


@pytest.fixture
def raw(tmp_path) -> Path:
    return Path(shutil.copytree(TINY, tmp_path / "raw"))


def run(argv: list[str], capsys, spark=None) -> tuple[int, str, str]:
    capsys.readouterr()
    code = pipeline_main(argv, spark=spark)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, out: str, err: str, line: str, warehouse: Path) -> None:
    assert (code, out, err) == (2, "", line + "\n")
    assert not warehouse.exists()


def conf_file(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


# --- before the session: arguments, --as-of, --conf, local paths ----------------------------------
def arguments(tmp: Path, raw: Path, *extra: str) -> list[str]:
    """A run's arguments, then the mistake's: a later value of an option wins over an earlier one."""
    return ["--input", str(raw), "--warehouse", str(tmp / "warehouse"), "--as-of", AS_OF, *extra]


def _no_input(tmp: Path, raw: Path) -> tuple[list[str], str]:
    return (["--warehouse", str(tmp / "warehouse"), "--as-of", AS_OF],
            "pipeline: the following arguments are required: --input" + HELP)


def _input_folder_missing(tmp: Path, raw: Path) -> tuple[list[str], str]:
    return (arguments(tmp, raw, "--input", str(tmp / "nowhere")),
            f"pipeline: --input {tmp / 'nowhere'}: no such folder")


def _input_is_a_file(tmp: Path, raw: Path) -> tuple[list[str], str]:
    file = raw / "orders" / "part-00000.jsonl"
    return (arguments(tmp, raw, "--input", str(file)),
            f"pipeline: --input {file} is a file, not a folder")


def _conf_missing(tmp: Path, raw: Path) -> tuple[list[str], str]:
    return (arguments(tmp, raw, "--conf", str(tmp / "nowhere.yaml")),
            f"pipeline: config file not found: {tmp / 'nowhere.yaml'}")


def _conf_is_a_folder(tmp: Path, raw: Path) -> tuple[list[str], str]:
    return (arguments(tmp, raw, "--conf", str(raw)),
            f"pipeline: config file {raw} is a folder, not a YAML file")


def _conf_not_text(tmp: Path, raw: Path) -> tuple[list[str], str]:
    # The tests run as root here, where no permission bit makes a file unreadable; a file that is
    # not text is the unreadable one a user can really name (a .gz, a spreadsheet).
    conf = conf_file(tmp, "local.yaml.gz", (TINY / "orders" / "part-00001.jsonl.gz").read_bytes())
    return (arguments(tmp, raw, "--conf", str(conf)),
            f"pipeline: config file {conf} is not UTF-8 text")


def _conf_not_yaml(tmp: Path, raw: Path) -> tuple[list[str], str]:
    conf = conf_file(tmp, "broken.yaml", "fx_rates: fx_rates.csv\nreason_codes: [unclosed\n")
    return (arguments(tmp, raw, "--conf", str(conf)),
            f"pipeline: config file {conf} is not valid YAML: expected ',' or ']', "
            "but got '<stream end>' (line 3, column 1)")


def _conf_without_fx_rates(tmp: Path, raw: Path) -> tuple[list[str], str]:
    conf = conf_file(tmp, "no_fx.yaml", f"reason_codes: {REPO_ROOT / 'conf' / 'reason_codes.csv'}\n")
    return (arguments(tmp, raw, "--conf", str(conf)),
            f"pipeline: config file {conf} lacks fx_rates")


def _conf_fx_rates_not_a_path(tmp: Path, raw: Path) -> tuple[list[str], str]:
    conf = conf_file(tmp, "list.yaml", "fx_rates: [a.csv]\nreason_codes: reason_codes.csv\n")
    return (arguments(tmp, raw, "--conf", str(conf)),
            f"pipeline: config file {conf}: fx_rates must be a path")


def _bad_as_of(tmp: Path, raw: Path) -> tuple[list[str], str]:
    return (arguments(tmp, raw, "--as-of", "2026-13-01"),
            "pipeline: --as-of '2026-13-01' is not an ISO-8601 timestamp")


def _unknown_option(tmp: Path, raw: Path) -> tuple[list[str], str]:
    return (arguments(tmp, raw, "--inptu", str(raw)),
            "pipeline: unrecognized arguments: --inptu " + str(raw) + HELP)


def _warehouse_is_a_file(tmp: Path, raw: Path) -> tuple[list[str], str]:
    file = conf_file(tmp, "warehouse.txt", "not a folder\n")
    return (arguments(tmp, raw, "--warehouse", str(file)),
            f"pipeline: --warehouse {file} is a file, not a folder")


def _option_without_value(tmp: Path, raw: Path) -> tuple[list[str], str]:
    return (arguments(tmp, raw, "--as-of"),
            "pipeline: argument --as-of: expected one argument" + HELP)


def _option_followed_by_an_option(tmp: Path, raw: Path) -> tuple[list[str], str]:
    return (arguments(tmp, raw, "--conf", "--as-of", AS_OF),
            "pipeline: argument --conf: expected one argument" + HELP)


@pytest.mark.parametrize("mistake", [
    _no_input, _input_folder_missing, _input_is_a_file, _conf_missing, _conf_is_a_folder,
    _conf_not_text, _conf_not_yaml, _conf_without_fx_rates, _conf_fx_rates_not_a_path, _bad_as_of,
    _unknown_option, _warehouse_is_a_file, _option_without_value, _option_followed_by_an_option,
], ids=lambda f: f.__name__.strip("_"))
def test_a_mistake_found_before_spark_starts_is_one_line_and_exit_2(tmp_path, raw, capsys, no_session,
                                                                    mistake):
    argv, line = mistake(tmp_path, raw)

    code, out, err = run(argv, capsys)

    assert_one_line(code, out, err, line, tmp_path / "warehouse")
    if mistake is _warehouse_is_a_file:
        assert (tmp_path / "warehouse.txt").read_text() == "not a folder\n"


def test_help_is_not_a_mistake(capsys, no_session):
    with pytest.raises(SystemExit) as stop:
        pipeline_main(["--help"])
    out, err = capsys.readouterr()
    assert stop.value.code == 0 and err == ""
    assert out.startswith("usage: pipeline [-h] --input INPUT")


# --- after the session: a source missing from the input folder ----------------------------------
@pytest.mark.parametrize("source", ["orders", "transactions", "chargebacks"])
def test_an_input_folder_without_a_source_names_it_and_its_path(spark, tmp_path, raw, capsys, source):
    shutil.rmtree(raw / source)
    warehouse = tmp_path / "warehouse"

    code, out, err = run(["--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF],
                         capsys, spark)

    assert_one_line(code, out, err, f"pipeline: input source {source} not found: no file or directory "
                                    f"matches {raw}/{source}*", warehouse)


def test_a_source_of_hidden_files_only_is_missing(spark, tmp_path, raw, capsys):
    """`_SUCCESS`-style and dot files are not data: a folder of them is no source."""
    for part in (raw / "chargebacks").iterdir():
        part.rename(part.with_name("." + part.name))
    warehouse = tmp_path / "warehouse"

    code, out, err = run(["--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF],
                         capsys, spark)

    assert_one_line(code, out, err, f"pipeline: input source chargebacks not found: no file or directory "
                                    f"matches {raw}/chargebacks*", warehouse)


# --- under spark-submit ---------------------------------------------------------------------------
# What the JVM and Spark print themselves: the JVM's notice of the incubator module Spark 4 adds,
# and log4j lines in conf/log4j2.properties' pattern (`yy/MM/dd HH:mm:ss LEVEL logger: message`).
SPARK_OWN_LINE = re.compile(r"WARNING: Using incubator modules: .*"
                            r"|\d\d/\d\d/\d\d \d\d:\d\d:\d\d (WARN|ERROR) \S+: .*")


@pytest.mark.e2e
def test_under_spark_submit_a_mistake_is_the_one_line_that_is_not_sparks_log(tmp_path, raw):
    """A missing source is found after the SparkSession started: the one line and exit 2 hold
    with a live JVM, not only before one."""
    shutil.rmtree(raw / "orders")
    warehouse = tmp_path / "warehouse"

    submitted = subprocess.run(
        [str(REPO_ROOT / "spark-submit.sh"), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
         "jobs/pipeline.py", "--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
    )

    assert submitted.returncode == 2, submitted.stdout + submitted.stderr
    # PythonRunner merges the driver's stderr into stdout: the line is there, alone.
    assert submitted.stdout == (f"pipeline: input source orders not found: no file or directory matches "
                                f"{raw}/orders*\n")
    not_spark = [line for line in submitted.stderr.splitlines() if not SPARK_OWN_LINE.fullmatch(line)]
    assert not_spark == []
    assert "NativeCodeLoader" not in submitted.stderr  # silenced in conf/log4j2.properties
    assert not warehouse.exists()
