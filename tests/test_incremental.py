"""Incremental runs publish what one full run publishes (CONTRACT.md section 5).

Generated data is dealt into three batches that arrive one after another in ONE input folder,
each followed by a `--mode incremental` run with a later `--as-of`. One `--mode full` run over
the final folder with the last `--as-of` then publishes the reference warehouse, and every
published table of the incremental warehouse must equal it (rows as multisets, all columns but
the per-run `run_id` and `quarantined_at`), read with Spark and with delta-rs.

The generator keeps a transaction, its order and its chargebacks in part files of the same
number, so the batches take different part numbers per source: orders arrive after their
payments, chargebacks before their transaction and long after it. Hand-written records add what
the generator keeps inside one file: a payment re-sent in a later batch with another amount (a
conflicting version that retracts the published one and its chargeback) and a payment delivered
twice (an exact copy dropped as a duplicate). `test_batches_exercise_the_hard_cases` measures all
of this on the files, so a change of the generator cannot make the equivalence vacuous.

Also: hand-computed states after runs 1-3 (Delta time travel), run_log's counts and totals
against the lines in the files, a rerun without new files that writes nothing, the two refusals
(a processed file changed, an earlier `--as-of`) and the rebuild when fx rates change.
Data docs are off (`data_docs: null` in the runs' conf): they do not touch the tables.
"""
from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs import generate_data, pipeline
from lib import incremental
from lib.quality.suites import load_suites
from lib.schemas import SOURCES
from lib.storage import local_path

pytest.register_assert_rewrite("tests.incremental_batches")  # its assert_* helpers explain failures too
from tests.incremental_batches import (  # noqa: E402
    BATCH_AS_OF, COPIED, COPIED_DATE, COUNTS, GENERATED_UNTIL, PUBLISHED, REPO_ROOT, RESENT, RESENT_DATE,
    RawRecord, assert_refused, assert_same_tables, batch_sources, chain_arrivals, changed_file, data_rows,
    delta_rs_rows, disputed_payments, files_of, metric_row, moment, published_payments, quarantine_reasons,
    run_job, run_log_rows, table, table_versions, write_conf,
)


# --- fixtures ------------------------------------------------------------------------------------
@dataclass
class Chain:
    input_dir: Path
    warehouse: Path
    conf: Path
    batches: list[dict[str, list[Path]]]  # per batch: source -> its files in input_dir
    versions: list[dict[str, int]]        # table versions after each run


@pytest.fixture(scope="module")
def generated(spark, tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("incremental") / "generated"
    assert generate_data.main([
        "--out", str(raw), "--rows", "1500", "--format", "jsonl", "--parts", "6", "--seed", "11",
        "--as-of", GENERATED_UNTIL, "--defect-rate", "0.12", "--chargeback-rate", "0.4",
    ]) == 0
    return raw


@pytest.fixture(scope="module")
def batches(generated, tmp_path_factory) -> list[dict[str, list[Path]]]:
    return batch_sources(generated, tmp_path_factory.mktemp("hand"))


@pytest.fixture(scope="module")
def chain(spark, batches, tmp_path_factory) -> Chain:
    """Three batches copied one by one into one input folder, an incremental run after each."""
    base = tmp_path_factory.mktemp("chain")
    conf = write_conf(base / "conf", (REPO_ROOT / "conf" / "fx_rates.csv").read_text())
    chain = Chain(base / "input", base / "warehouse", conf, [], [])
    for number, (files, as_of) in enumerate(zip(batches, BATCH_AS_OF), start=1):
        arrived: dict[str, list[Path]] = {}
        for source, paths in files.items():
            (chain.input_dir / source).mkdir(parents=True, exist_ok=True)
            arrived[source] = [Path(shutil.copy(p, chain.input_dir / source / p.name)) for p in paths]
        result = run_job(spark, chain.input_dir, chain.warehouse, as_of, "incremental", f"batch-{number}", conf)
        assert result.code == 0, result.stderr
        chain.batches.append(arrived)
        chain.versions.append(table_versions(chain.warehouse))
    return chain


@pytest.fixture(scope="module")
def full_reference(spark, chain, tmp_path_factory) -> Path:
    """One full run over the final folder with the last run's --as-of."""
    warehouse = tmp_path_factory.mktemp("full") / "warehouse"
    result = run_job(spark, chain.input_dir, warehouse, BATCH_AS_OF[-1], "full", "full-reference", chain.conf)
    assert result.code == 0, result.stderr
    return warehouse


# --- the data exercises what it must --------------------------------------------------------------
def test_batches_exercise_the_hard_cases(batches):
    arrivals = chain_arrivals(batches)
    assert all(files[s] for files in batches for s in SOURCES)
    assert len(arrivals.chargebacks_before_their_payment()) >= 1
    assert len(arrivals.late_chargebacks()) >= 1
    assert len(arrivals.payments_before_their_order()) >= 1
    assert ("transactions", (RESENT,)) in arrivals.conflicting_across_batches()
    assert ("transactions", (COPIED,)) in arrivals.copies_across_batches()
    assert len(arrivals.payments_after(BATCH_AS_OF[0], batch=1)) >= 1
    # the hand-written payments' dates hold no generated payment: their metric rows are theirs
    generated_days = {str(t.fields.get("timestamp"))[:10] for t in arrivals.of("transactions")
                      if t.fields.get("transaction_id") not in (RESENT, COPIED)}
    assert not generated_days & {RESENT_DATE, COPIED_DATE}


# --- equivalence ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PUBLISHED)
def test_incremental_table_equals_the_full_run_read_by_spark(spark, chain, full_reference, name):
    assert_same_tables(spark, chain.warehouse, full_reference, [name])


@pytest.mark.parametrize("name", PUBLISHED)
def test_incremental_table_equals_the_full_run_read_by_delta_rs(spark, chain, full_reference, name):
    incremental = delta_rs_rows(chain.warehouse / name)
    assert len(incremental) == table(spark, chain.warehouse, name).count() > 0
    assert incremental == delta_rs_rows(full_reference / name)


# --- states after each run, by hand ---------------------------------------------------------------
def test_late_parents_and_a_passing_as_of_publish_what_was_quarantined(spark, chain, full_reference):
    """After run 1 a payment of batch 1 whose order comes in batch 2 is an orphan, one dated after
    run 1's --as-of is quarantined for it, a chargeback before its payment is an orphan; after
    run 2 all are published (those a full run publishes)."""
    arrivals = chain_arrivals(chain.batches)
    payments = {t.fields["transaction_id"]: t for t in arrivals.of("transactions") if t.key}
    first_as_of, second_as_of = moment(BATCH_AS_OF[0]), moment(BATCH_AS_OF[1])

    def paid_by(t: RawRecord, as_of: datetime) -> bool:
        return (moment(t.fields.get("timestamp")) or as_of + timedelta(days=1)) <= as_of

    def order_arrives(t: RawRecord) -> int | None:
        return arrivals.arrival("orders", t.fields.get("order_id"))

    published = published_payments(spark, full_reference)
    batch_one = [t for t in payments.values() if t.batch == 1]
    waiting_for_order = {t.fields["transaction_id"] for t in batch_one
                         if order_arrives(t) == 2 and paid_by(t, first_as_of)} & published
    future_dated = {t.fields["transaction_id"] for t in batch_one
                    if order_arrives(t) == 1 and paid_by(t, second_as_of) and not paid_by(t, first_as_of)} & published
    disputed_early = {c.fields["transaction_id"] for c in arrivals.of("chargebacks") if c.batch == 1 and c.key
                      and (p := payments.get(c.fields["transaction_id"])) and p.batch == 2
                      and (order_arrives(p) or 9) <= 2 and paid_by(p, second_as_of)
                      } & disputed_payments(spark, full_reference)
    assert waiting_for_order and future_dated and disputed_early

    after_first = {n: chain.versions[0][n] for n in ("transactions", "chargebacks", "quarantine")}
    published_first = published_payments(spark, chain.warehouse, after_first["transactions"])
    payment_reasons = quarantine_reasons(spark, chain.warehouse, "transactions", after_first["quarantine"])
    chargeback_reasons = quarantine_reasons(spark, chain.warehouse, "chargebacks", after_first["quarantine"])
    assert not published_first & (waiting_for_order | future_dated)
    assert all(len(payment_reasons[t]) == 1 and "orphan" in payment_reasons[t][0] for t in waiting_for_order)
    assert all(len(payment_reasons[t]) == 1 and "timestamp_after_as_of" in payment_reasons[t][0]
               for t in future_dated)
    assert all(all("orphan" in r for r in chargeback_reasons[t]) for t in disputed_early)
    assert not disputed_payments(spark, chain.warehouse, after_first["chargebacks"]) & disputed_early

    after_second = chain.versions[1]
    assert waiting_for_order | future_dated <= published_payments(spark, chain.warehouse, after_second["transactions"])
    assert disputed_early <= disputed_payments(spark, chain.warehouse, after_second["chargebacks"])
    later = quarantine_reasons(spark, chain.warehouse, "transactions", after_second["quarantine"])
    assert not later.keys() & (waiting_for_order | future_dated)


def test_a_resent_payment_retracts_the_published_one_and_a_copy_is_dropped(spark, chain):
    first, second, third = chain.versions
    wh = chain.warehouse
    # run 1: the payment and its chargeback are published, with their metric rows
    assert {RESENT, COPIED} <= published_payments(spark, wh, first["transactions"])
    assert metric_row(spark, wh, "payment_metrics", RESENT_DATE, "credit_card", first["payment_metrics"]) == {
        "attempts": 1, "completed_count": 1, "failed_count": 0, "pending_count": 0, "failure_rate": 0.0,
        "completed_volume_usd": Decimal("120.00"), "failed_volume_usd": Decimal("0.00"),
        "txn_date": datetime.fromisoformat(RESENT_DATE).date(), "payment_method": "credit_card"}
    disputed = metric_row(spark, wh, "chargeback_metrics", RESENT_DATE, "credit_card", first["chargeback_metrics"])
    assert (disputed["chargeback_count"], disputed["disputed_amount_usd"], disputed["chargeback_rate"],
            disputed["lost_count"], disputed["fraud_chargeback_count"]) == (1, Decimal("30.00"), 0.25, 1, 1)

    # run 2: both versions are conflicting duplicates, the chargeback's parent is quarantined,
    # the date's metric rows are gone; the exact copy is dropped, its payment counted once
    assert RESENT not in published_payments(spark, wh, second["transactions"])
    payment_reasons = quarantine_reasons(spark, wh, "transactions", second["quarantine"])
    assert len(payment_reasons[RESENT]) == 2 and all("conflicting_duplicate" in r for r in payment_reasons[RESENT])
    assert quarantine_reasons(spark, wh, "chargebacks", second["quarantine"])[RESENT] == [{"parent_quarantined"}]
    for name in ("payment_metrics", "chargeback_metrics"):
        assert metric_row(spark, wh, name, RESENT_DATE, "credit_card", second[name]) is None, name
    assert COPIED not in payment_reasons
    assert metric_row(spark, wh, "payment_metrics", COPIED_DATE, "wallet", second["payment_metrics"])["attempts"] == 1
    run_2 = run_log_rows(spark, wh, "batch-2")["transactions"]
    assert run_2["duplicates_dropped"] >= 1

    # run 3: a chargeback three months late counts in its payment's July cohort
    assert metric_row(spark, wh, "chargeback_metrics", COPIED_DATE, "wallet",
                      second["chargeback_metrics"])["chargeback_count"] == 0
    late = metric_row(spark, wh, "chargeback_metrics", COPIED_DATE, "wallet", third["chargeback_metrics"])
    assert (late["chargeback_count"], late["disputed_amount_usd"], late["won_count"], late["win_rate"]) == (
        1, Decimal("20.00"), 1, 1.0)
    assert late["chargeback_rate"] == pytest.approx(20.00 / 45.50, rel=1e-12)


# --- run_log and processed_files --------------------------------------------------------------------
def test_run_log_counts_every_line_once_and_nothing_is_lost(spark, chain, full_reference):
    all_files = {s: [p for files in chain.batches for p in files[s]] for s in SOURCES}
    for number, files in enumerate(chain.batches, start=1):
        logged = run_log_rows(spark, chain.warehouse, f"batch-{number}")
        assert sorted(logged) == sorted(SOURCES)
        for source, row in logged.items():
            if number > 1:
                assert row["mode"] == "incremental", (number, source)
            assert files_of(row["files"]) == files_of(files[source]), (number, source)
            assert row["rows_read"] == sum(data_rows(p) for p in files[source]), (number, source)
            assert row["rows_read"] == row["rows_valid"] + row["rows_quarantined"] + row["duplicates_dropped"]

    last = run_log_rows(spark, chain.warehouse, "batch-3")
    full = run_log_rows(spark, full_reference, "full-reference")
    quarantined = {r["source"]: r["count"] for r in
                   table(spark, chain.warehouse, "quarantine").groupBy("source").count().collect()}
    for source in SOURCES:
        totals = [last[source][f"total_{c}"] for c in COUNTS]
        assert totals[0] == sum(data_rows(p) for p in all_files[source]), source
        assert totals[0] == totals[1] + totals[2] + totals[3], source
        assert totals[1] == table(spark, chain.warehouse, source).count(), source
        assert totals[2] == quarantined[source], source
        assert totals == [full[source][c] for c in COUNTS] == [full[source][f"total_{c}"] for c in COUNTS], source
    assert full["transactions"]["mode"] == "full"


def test_processed_files_lists_every_input_file_once_with_its_size(spark, chain):
    rows = table(spark, chain.warehouse, "processed_files").collect()
    listed = sorted((r["source"], str(local_path(r["path"]).resolve()), r["size"]) for r in rows)
    on_disk = sorted((s, str(p.resolve()), p.stat().st_size) for files in chain.batches for s in SOURCES
                     for p in files[s])
    assert listed == on_disk
    assert {r["run_id"] for r in rows} == {"batch-1", "batch-2", "batch-3"}


# --- no new files; refusals; new reference data ----------------------------------------------------
def test_rerun_without_new_files_writes_no_table(spark, chain, full_reference):
    before = table_versions(chain.warehouse)
    result = run_job(spark, chain.input_dir, chain.warehouse, BATCH_AS_OF[-1], "incremental", "rerun", chain.conf)
    assert result.code == 0, result.stderr
    assert table_versions(chain.warehouse) == before


@pytest.mark.parametrize("how", ["touched", "appended"])
def test_a_changed_processed_file_stops_the_run(spark, chain, tmp_path, how):
    warehouse = Path(shutil.copytree(chain.warehouse, tmp_path / "warehouse"))
    before = table_versions(warehouse)
    processed = next(p for p in chain.batches[0]["transactions"] if p.name.endswith(".jsonl"))
    with changed_file(processed, how):
        result = run_job(spark, chain.input_dir, warehouse, BATCH_AS_OF[-1], "incremental", f"refused-{how}",
                         chain.conf)
    assert_refused(result, str(processed))
    assert table_versions(warehouse) == before


def test_a_new_csv_file_with_a_wrong_header_stops_the_run(spark, chain, tmp_path):
    """The headers of an incremental run's new files are checked (the processed ones were, when
    they were read): the run stops with one line naming the file, before it publishes."""
    warehouse = Path(shutil.copytree(chain.warehouse, tmp_path / "warehouse"))
    before = table_versions(warehouse)
    wrong = chain.input_dir / "chargebacks" / "part-late-wrong-header.csv"
    wrong.write_text("transaction_id,dispute_date,amount,reason,status,resolution_date\n")
    try:
        result = run_job(spark, chain.input_dir, warehouse, BATCH_AS_OF[-1], "incremental", "refused-header",
                         chain.conf)
    finally:
        wrong.unlink()
    assert_refused(result, str(wrong), "CSV header must be exactly")
    assert table_versions(warehouse) == before


def test_an_earlier_as_of_stops_the_run(spark, chain, tmp_path):
    warehouse = Path(shutil.copytree(chain.warehouse, tmp_path / "warehouse"))
    before = table_versions(warehouse)
    result = run_job(spark, chain.input_dir, warehouse, "2026-10-20T00:00:00Z", "incremental", "refused-as-of",
                     chain.conf)
    assert_refused(result, "2026-10-20", "2026-11-01")
    assert table_versions(warehouse) == before


def test_new_fx_rates_rebuild_in_full(spark, chain, tmp_path):
    """GBP's rate from 2026-07-01 changes: the incremental run rebuilds and publishes what a
    full run with the new rates publishes."""
    rates = (REPO_ROOT / "conf" / "fx_rates.csv").read_text()
    assert "GBP,1.2710,2026-07-01" in rates
    conf = write_conf(tmp_path / "new-rates", rates.replace("GBP,1.2710,2026-07-01", "GBP,1.3100,2026-07-01"))
    rebuilt = Path(shutil.copytree(chain.warehouse, tmp_path / "rebuilt"))
    result = run_job(spark, chain.input_dir, rebuilt, BATCH_AS_OF[-1], "incremental", "new-rates", conf)
    assert result.code == 0, result.stderr
    assert "rebuilding in full" in result.stdout
    assert {r["mode"] for r in run_log_rows(spark, rebuilt, "new-rates").values()} == {"full"}

    fresh = tmp_path / "fresh"
    assert run_job(spark, chain.input_dir, fresh, BATCH_AS_OF[-1], "full", "fresh", conf).code == 0
    assert_same_tables(spark, rebuilt, fresh)

    before = table(spark, chain.warehouse, "transactions").select(
        "transaction_id", "currency", F.col("amount_usd").alias("usd_before"))
    compared = before.join(table(spark, rebuilt, "transactions"), on=["transaction_id", "currency"], how="inner")
    changed = compared.where(F.col("usd_before") != F.col("amount_usd"))
    assert changed.where(F.col("currency") == "GBP").count() > 0
    assert changed.where(F.col("currency") != "GBP").count() == 0


def test_a_uniqueness_rule_off_the_key_makes_the_run_a_full_one(spark, chain):
    """A suite with a uniqueness rule that leaves out part of the key (one payment per order):
    an incremental run cannot find the earlier rows such a rule compares a new row with. Planned
    with the fingerprint the last run recorded (as when the suites changed runs ago), the run
    still rebuilds in full, and says why."""
    suites = load_suites(str(REPO_ROOT / "expectations"), SOURCES)
    last_run, _ = incremental.run_history(spark, str(chain.warehouse))
    fingerprint = last_run.reference_fingerprint
    files = pipeline.discover_inputs(spark, str(chain.input_dir))
    as_of = pipeline.parse_as_of(BATCH_AS_OF[-1])

    def planned(with_suites):
        return incremental.plan(spark, str(chain.warehouse), "incremental", files, as_of, fingerprint, with_suites)

    shipped = planned(suites)
    assert (shipped.mode, shipped.rebuild_reason) == ("incremental", None)
    one_per_order = copy.deepcopy(suites["transactions"])
    one_per_order.definition["expectations"].append({
        "type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"},
        "meta": {"rule": "one_payment_per_order", "action": "warn", "message": "one payment per order"}})
    plan = planned({**suites, "transactions": one_per_order})
    assert plan.mode == "full"
    assert plan.rebuild_reason == (
        "the transactions suite's uniqueness rule one_payment_per_order is not on the key (transaction_id), "
        "and an incremental run finds earlier rows by key: rebuilding in full")
