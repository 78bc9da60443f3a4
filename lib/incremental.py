"""Incremental runs (CONTRACT.md section 5): read only new files, and publish exactly what a full
run over every file would.

What the warehouse keeps for it:
- `processed_files`, a Delta table: every file a run has read (source, path, size, modification
  time, run id). A file is known by its path; one whose size or modification time changed stops
  an incremental run.
- `_state/<source>`, a Delta table per source: every version of every key that any run has read,
  as validated: the reader's typed columns, the raw `record` and `source_file`, the content hash
  and `copies`, and the last outcome (`failed_rules`, `quarantined`, `_parent`).

An incremental run validates, in the same one-pass code as a full run, the rows whose outcome its
files can change: the new rows, the earlier versions of their keys (an exact copy collapses with
them, a different one makes every version a `conflicting_duplicate`), the children of every parent
key whose reference it changes (a late order turns an `orphan` valid; a retracted transaction makes
its chargebacks `parent_quarantined`), and, when `--as-of` moved on, the rows quarantined as after
the last one. Of those versions, the ones whose published rows change (new ones, and earlier ones
with another outcome: `unchanged_versions`) replace theirs in the state, the clean tables and the
quarantine (lib/publishing.py); the metrics of the dates they reach are recomputed and replace
those dates only.

Whatever an incremental run cannot trust, it rebuilds in full and says why: no earlier run, an
earlier run that did not complete (killed while publishing), changed reference data or suites.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lib import publish, storage
from lib.errors import UserError
from lib.quality.referential import PARENTAGE, Parentage, parent_reference
from lib.quality.split import as_read_this_run, content_hash
from lib.quality.suites import Suite
from lib.schemas import RUN_COMPLETED, RUN_LOG, SOURCE_SPECS, SOURCES, SourceSpec

FULL, INCREMENTAL = "full", "incremental"
MODES = (FULL, INCREMENTAL)
PROCESSED_FILES = "processed_files"
STATE_DIR = "_state"
# The outcome columns of a staged row: an earlier version is validated again without them.
OUTCOME_COLUMNS = ("failed_rules", "dq_warnings", "quarantined", "_parent")
# What a staged row says of the run that staged it, not of the version: not kept in the state.
RUN_COLUMNS = ("fresh", "fresh_copies")
# What a version's published rows are made of besides its key and content (an equal content hash
# is equal typed values): a version validated again that keeps every one of these publishes the
# same clean, quarantine and state rows as before (the reference data cannot have changed: that
# makes the run a full one).
PUBLISHED_WITH = ("quarantined", "failed_rules", "dq_warnings", "_parent", "copies", "source_file", "record")
# The key state is partitioned by the month of each row's own date: the keys a day's files touch
# are mostly that month's, so a MERGE rewrites that month's files, not the whole state.
STATE_MONTH = "_state_month"
STATE_DATE_OF = {"orders": "timestamp", "transactions": "timestamp", "chargebacks": "dispute_date"}
# A 64-bit hash of each row's key, and of its parent's key (null where it names none): the months
# that may hold a key are found from these and the month alone, without decoding a string of the
# state's millions of rows; only those months are then searched for the exact key.
KEY_HASH, PARENT_HASH = "_key_hash", "_parent_hash"


@dataclass(frozen=True)
class InputFile:
    source: str
    path: str
    size: int
    modification_time: int


@dataclass(frozen=True)
class Plan:
    """What this run reads and how it publishes."""
    mode: str                              # what runs: FULL or INCREMENTAL
    files: dict[str, list[str]]            # source -> the files this run reads
    new_files: tuple[InputFile, ...]       # the files the processed-file log gains
    rebuild_reason: str | None = None      # why an incremental run rebuilds in full
    # source -> the rules whose quarantined rows are validated again (--as-of moved on)
    recheck_rules: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # source -> the first month of the key state that can hold those rows (absent: every month;
    # `as_of_rules_date_rows_after_it`)
    recheck_from: Mapping[str, dt.date] = field(default_factory=dict)
    lone_null_keys: tuple[str, ...] = ()   # sources whose rows with a missing key part meet
    #                                        earlier versions only as exact copies
    # source -> the warehouse's totals the last run recorded (rows read, valid, quarantined,
    # duplicates dropped); None where it recorded none (run_log written by an older version)
    totals_before: Mapping[str, tuple[int, int, int, int]] | None = None

    @property
    def incremental(self) -> bool:
        return self.mode == INCREMENTAL


@dataclass(frozen=True)
class LastRun:
    run_id: str
    as_of: dt.datetime
    completed: bool
    reference_fingerprint: str | None
    totals: Mapping[str, tuple[int, int, int, int]] | None = None  # see Plan.totals_before


# New files up to this size make an incremental run join the keys they touch by broadcast: at
# ~250 bytes a row, about a million keys, tens of MB on the driver and each executor.
SMALL_INCREMENT_BYTES = 256 * 1024 * 1024


def small_increment(plan: Plan) -> bool:
    return sum(f.size for f in plan.new_files) <= SMALL_INCREMENT_BYTES


def state_path(warehouse: str, source: str) -> str:
    return f"{warehouse.rstrip('/')}/{STATE_DIR}/{source}"


# The key state is searched by month (its partitions) and joined on key hashes; a file's min and
# max of a hash, a raw record or an id span every value, so per-column statistics never skip a
# file. Delta still keeps each file's row count. Not collecting them saves a tenth to a fifth of
# a state write's time (docs/benchmarks.md, 2026-12-07, twelfth session).
STATE_PROPERTIES = {"delta.dataSkippingNumIndexedCols": "0"}


def as_state(staged_rows: DataFrame, source: str) -> DataFrame:
    """Staged rows as the key state keeps them: the same whichever run read them, with the month
    it is partitioned by and the hashes its months are searched by (`state_columns`)."""
    state = (staged_rows.drop(*RUN_COLUMNS)
             .withColumn(STATE_MONTH, F.trunc(F.col(STATE_DATE_OF[source]), "month"))
             .withColumn(KEY_HASH, key_hash(SOURCE_SPECS[source].key)))
    parentage = PARENTAGE.get(source)
    if parentage is None:
        return state
    return state.withColumn(PARENT_HASH, F.when(F.col(parentage.foreign_key).isNotNull(),
                                                key_hash([parentage.foreign_key])))


def unchanged_versions(validated: DataFrame, earlier: DataFrame, source: str) -> DataFrame:
    """(key, `_content`) of the versions whose validated row equals their earlier row
    (`KeyState.earlier_versions`) in every column of `PUBLISHED_WITH`: validated again, they
    publish nothing new. Most earlier versions a day's keys touch are such (children of a
    validated parent, rows a moved --as-of still quarantines)."""
    match = [*SOURCE_SPECS[source].key, "_content"]
    columns = [*match, *[c for c in PUBLISHED_WITH if c in validated.columns and c in earlier.columns]]
    return keyed(validated.select(*columns), earlier.select(*columns), columns, "left_semi").select(*match)


def state_columns(source: str) -> tuple[str, ...]:
    """The columns the key state adds to a staged row (`as_state`)."""
    return (STATE_MONTH, KEY_HASH) + ((PARENT_HASH,) if source in PARENTAGE else ())


def key_hash(columns: Sequence[str]) -> Column:
    """A key's 64-bit hash: equal keys hash alike (a null part is skipped), so the rows whose
    hash matches are a superset of those whose key does."""
    return F.xxhash64(*columns)


def reference_fingerprint(rate_rows: Sequence, reason_rows: Sequence, suites: Mapping[str, Suite],
                          cross_source_actions: Mapping[str, str]) -> str:
    """A hash of everything besides the files that decides a row's outcome and amounts."""
    content = json.dumps({
        "fx_rates": sorted([r.currency, str(r.rate_to_usd), str(r.valid_from)] for r in rate_rows),
        "reason_codes": sorted([r.reason_code, r.category] for r in reason_rows),
        "suites": {s: suites[s].definition for s in sorted(suites)},
        "cross_source_actions": dict(sorted(cross_source_actions.items())),
    }, sort_keys=True, default=str)
    return hashlib.sha256(content.encode()).hexdigest()


def _uses_as_of(value) -> bool:
    if isinstance(value, dict):
        return value.get("$PARAMETER") == "as_of" or any(_uses_as_of(v) for v in value.values())
    return isinstance(value, list) and any(_uses_as_of(v) for v in value)


def as_of_rules(suite: Suite) -> tuple[str, ...]:
    """The suite's rules whose outcome depends on --as-of (their kwargs use the `as_of`
    parameter): only a source whose suite has one is searched for rows they quarantined."""
    return tuple(sorted({e["meta"]["rule"] for e in suite.expectations if _uses_as_of(e.get("kwargs", {}))}))


def as_of_rules_date_rows_after_it(suite: Suite, source: str) -> bool:
    """Whether every --as-of rule of the suite caps the date the key state is partitioned by
    (`STATE_DATE_OF`) at --as-of: `expect_column_values_to_be_between` on that column with
    `max_value` the `as_of` parameter, and no other use of it. A row such a rule quarantined is
    dated after the --as-of it was validated with, so after the last run's: an incremental run
    looks for them in the months from that one's on, not in every month of the warehouse."""
    def caps_state_date(kwargs: Mapping) -> bool:
        rest = {k: v for k, v in kwargs.items() if k != "max_value"}
        return (kwargs.get("column") == STATE_DATE_OF[source]
                and kwargs.get("max_value") == {"$PARAMETER": "as_of"} and not _uses_as_of(rest))
    return all(caps_state_date(e.get("kwargs", {})) for e in suite.expectations
               if _uses_as_of(e.get("kwargs", {})))


def uniqueness_ignores_missing_keys(suite: Suite) -> bool:
    """Whether no uniqueness rule of the suite considers a row with a missing key part (Great
    Expectations' single-column uniqueness never counts a null; a compound one ignores such a
    row only with `ignore_row_if: any_value_is_missing`). Then such a row meets other rows of
    its key only as an exact copy, and an incremental run needs its exact copies alone, not
    every earlier row whose key is missing too (the malformed rows of every file)."""
    return all(e.get("kwargs", {}).get("ignore_row_if", "all_values_are_missing") == "any_value_is_missing"
               for e in suite.expectations if e["type"] == "expect_compound_columns_to_be_unique")


UNIQUENESS_RULES = ("expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique")


def uniqueness_off_key(suite: Suite, key: Sequence[str]) -> tuple[str, ...]:
    """The suite's uniqueness rules whose columns leave out part of the source's key. An
    incremental run validates a new row with the earlier versions of its own key only: rows that
    such a rule finds equal can have different keys, and then the earlier one is not validated
    again (a full run would quarantine both). A rule on the key, or on more columns than it, only
    ever compares versions of one key."""
    def columns(kwargs: Mapping) -> set:
        listed = kwargs.get("column_list", [kwargs.get("column")])
        return {c for c in listed if isinstance(c, str)} if isinstance(listed, list) else set()
    return tuple(sorted(e["meta"]["rule"] for e in suite.expectations
                        if e["type"] in UNIQUENESS_RULES and not set(key) <= columns(e.get("kwargs", {}))))


TOTAL_COLUMNS = tuple(f.name for f in RUN_LOG.fields if f.name.startswith("total_"))  # read, valid, ...


def run_history(spark: SparkSession, warehouse: str) -> tuple[LastRun | None, dt.datetime | None]:
    """The newest run of the warehouse by start time, and the --as-of of the newest completed
    one, from one read of run_log: a few rows per run (bounded by the calendar, not the data),
    read in one query rather than one per question (each a Delta scan of its own)."""
    path = publish.table_path(warehouse, "run_log")
    if not DeltaTable.isDeltaTable(spark, path):
        return None, None
    run_log = spark.read.format("delta").load(path)
    fingerprint = (F.col("reference_fingerprint") if "reference_fingerprint" in run_log.columns
                   else F.lit(None).cast("string"))
    totals = [c for c in TOTAL_COLUMNS if c in run_log.columns]
    rows = run_log.select("run_id", "as_of", "status", "started_at", "source",
                          fingerprint.alias("fingerprint"), *totals).collect()
    if not rows:
        return None, None
    newest = _newest(rows)
    completed = [r for r in rows if r.status == RUN_COMPLETED]
    last_as_of = _newest(completed).as_of if completed else None
    done = newest.status == RUN_COMPLETED
    recorded = (_recorded_totals([r for r in rows if r.run_id == newest.run_id], totals)
                if done else None)
    return LastRun(newest.run_id, newest.as_of, done, newest.fingerprint, recorded), last_as_of


def _newest(rows: Sequence) -> object:
    """The row of the latest `started_at` (a row without one is older than any with one; ties go
    to the smallest run id)."""
    by_run_id = sorted(rows, key=lambda r: r.run_id)
    dated = [r for r in by_run_id if r.started_at is not None]
    return max(dated, key=lambda r: r.started_at) if dated else by_run_id[0]


def _recorded_totals(rows: Sequence, columns: Sequence[str]) -> dict[str, tuple[int, int, int, int]] | None:
    """The warehouse totals a run recorded, from its run_log rows (one per source); None if any
    is missing (run_log written by an older version)."""
    if tuple(columns) != TOTAL_COLUMNS:
        return None
    totals = {r.source: tuple(r[c] for c in TOTAL_COLUMNS) for r in rows}
    if set(totals) != set(SOURCES) or any(None in t for t in totals.values()):
        return None
    return totals


def plan(spark: SparkSession, warehouse: str, mode: str, files: Mapping[str, list[str]],
         as_of: dt.datetime, fingerprint: str, suites: Mapping[str, Suite]) -> Plan:
    """The files this run reads and how it publishes; raises UserError for a raw zone that was
    not only appended to, or an --as-of that goes back."""
    listing = tuple(InputFile(source, path, size, modified)
                    for source in SOURCES
                    for path, (size, modified) in storage.file_statuses(spark, files[source]).items())
    everything = Plan(FULL, {s: list(files[s]) for s in SOURCES}, listing)
    if mode == FULL:
        return everything
    if not _has_state(spark, warehouse):
        return _rebuild(everything, "the warehouse has no earlier incremental state: a full run")
    if not all(set(state_columns(s)) <= set(spark.read.format("delta").load(state_path(warehouse, s)).columns)
               for s in SOURCES):
        return _rebuild(everything, "the key state was written by an older version: rebuilding in full")
    with ThreadPoolExecutor(max_workers=2) as pool:  # two small Delta reads, side by side
        history = pool.submit(run_history, spark, warehouse)
        processed = _processed(spark, warehouse)
        previous, last_as_of = history.result()
    for file in listing:
        seen = processed.get(file.path)
        if seen is not None and seen != (file.size, file.modification_time):
            raise UserError(f"{file.path} was processed by an earlier run and has changed since "
                            f"(size or modification time): run --mode full to rebuild")
    listed = {f.path for f in listing}
    gone = sorted(p for p in processed if p not in listed)
    if gone:
        raise UserError(f"{gone[0]} was processed by an earlier run and is no longer in the input "
                        f"({len(gone)} such file(s)): run --mode full to rebuild")
    if last_as_of is not None and as_of < last_as_of:
        raise UserError(f"--as-of {as_of.isoformat()} is earlier than the last run's "
                        f"{last_as_of.isoformat()}: an incremental run cannot go back (run --mode full)")
    if previous is None or not previous.completed:
        return _rebuild(everything, f"run {previous.run_id if previous else '?'} did not complete: "
                                    "rebuilding in full")
    if previous.reference_fingerprint != fingerprint:
        return _rebuild(everything, "reference data or suites changed since the last run: rebuilding in full")
    off_key = [(s, rule) for s in SOURCES for rule in uniqueness_off_key(suites[s], SOURCE_SPECS[s].key)]
    if off_key:
        source, rule = off_key[0]
        return _rebuild(everything, f"the {source} suite's uniqueness rule {rule} is not on the key "
                                    f"({', '.join(SOURCE_SPECS[source].key)}), and an incremental run "
                                    "finds earlier rows by key: rebuilding in full")
    new = tuple(f for f in listing if f.path not in processed)
    moved = last_as_of is None or as_of > last_as_of
    return Plan(INCREMENTAL, {s: [f.path for f in new if f.source == s] for s in SOURCES}, new,
                recheck_rules={s: as_of_rules(suites[s]) for s in SOURCES} if moved else {},
                recheck_from={s: last_as_of.date().replace(day=1) for s in SOURCES
                              if last_as_of is not None and as_of_rules_date_rows_after_it(suites[s], s)},
                lone_null_keys=tuple(s for s in SOURCES if uniqueness_ignores_missing_keys(suites[s])),
                totals_before=previous.totals)


def preload(spark: SparkSession, warehouse: str) -> None:
    """Load the logs of the tables an incremental plan reads. In a new JVM, Delta's first table
    load spends seconds loading classes and replaying a log: run in a thread at start-up, beside
    the listing and the reference data, it leaves the plan a warm JVM and the logs cached. Only
    a warm-up: it changes nothing, and any error is left for the plan to meet and report."""
    for path in [publish.table_path(warehouse, "run_log"), publish.table_path(warehouse, PROCESSED_FILES),
                 *[state_path(warehouse, s) for s in SOURCES]]:
        try:
            if DeltaTable.isDeltaTable(spark, path):
                spark.read.format("delta").load(path).schema  # loads the snapshot
        except Exception:  # a warm-up only (see above)
            return


def _rebuild(full: Plan, reason: str) -> Plan:
    return Plan(FULL, full.files, full.new_files, rebuild_reason=reason)


def _has_state(spark: SparkSession, warehouse: str) -> bool:
    return all(DeltaTable.isDeltaTable(spark, p) for p in
               [publish.table_path(warehouse, PROCESSED_FILES), publish.table_path(warehouse, "run_log"),
                *[state_path(warehouse, s) for s in SOURCES]])


def _processed(spark: SparkSession, warehouse: str) -> dict[str, tuple[int, int]]:
    """path -> (size, modification time) of every processed file: a row per file, not per row."""
    rows = (spark.read.format("delta").load(publish.table_path(warehouse, PROCESSED_FILES))
            .select("path", "size", "modification_time").collect())
    return {r.path: (r.size, r.modification_time) for r in rows}


# --- the rows an incremental run validates ----------------------------------------------------
def keyed(left: DataFrame, keys: DataFrame, key: Sequence[str], how: str, by_content: bool = False,
          broadcast: bool = False) -> DataFrame:
    """`left` semi- or anti-joined with a frame of keys (null-safe). `by_content`: `keys` and
    `left` carry `_content` too, and a key row whose `_content` is set matches only the rows
    of that content (see `KeyState.touched_keys`). `broadcast`: `keys` is small (see
    `KeyState.broadcast`), and `left` is joined where it is read, without a shuffle."""
    match = [*key, "_content"] if by_content else list(key)
    renamed = keys.select(*[F.col(k).alias(f"_k_{k}") for k in match])
    if broadcast:
        renamed = F.broadcast(renamed)
    condition = None
    for k in key:
        equal = F.col(k).eqNullSafe(F.col(f"_k_{k}"))
        condition = equal if condition is None else condition & equal
    if by_content:
        condition = condition & (F.col("_k__content").isNull() | (F.col("_content") == F.col("_k__content")))
    joined = left.join(renamed, condition, how)
    return joined if how in ("left_semi", "left_anti") else joined.drop(*renamed.columns)


def changed_parents(parentage: Parentage, validated: DataFrame, earlier: DataFrame) -> DataFrame:
    """The parent keys (`_touched_parent`) this run validated whose reference, what a child
    reads of its parent (whether the key exists, and its valid row's attributes:
    `referential.parent_reference`), differs from the one their earlier rows gave. After every
    run each child in the key state was validated against its parent as that run left it, so
    only these keys' children can change outcome: a new key's (children that were `orphan`),
    a key that became quarantined or valid, or whose valid row changed. Most keys a day
    validates again (exact copies, children of other changes) keep their reference, and
    their children, anywhere in the warehouse, need not be looked up."""
    parent_key = SOURCE_SPECS[parentage.parent].key[0]

    def reference(rows: DataFrame, side: str) -> DataFrame:
        return (parent_reference(rows, parentage, parent_key)
                .select(F.col("_parent_key").alias("_touched_parent"), F.col("_parent").alias(side),
                        F.lit(True).alias(f"{side}_exists")))

    both = reference(validated, "_after").join(reference(earlier, "_before"), "_touched_parent", "full_outer")
    same = (F.col("_after_exists").eqNullSafe(F.col("_before_exists"))
            & F.col("_after").eqNullSafe(F.col("_before")))
    return both.where(~same).select("_touched_parent")


@dataclass(frozen=True)
class KeyState:
    """The warehouse's versions of every key, as earlier runs left them."""
    spark: SparkSession
    warehouse: str
    recheck_rules: Mapping[str, tuple[str, ...]]  # see Plan
    lone_null_keys: tuple[str, ...]
    recheck_from: Mapping[str, dt.date] = field(default_factory=dict)  # see Plan
    # The run's new files are small (`small_increment`): the keys they touch are shipped to every
    # task that reads the state, instead of shuffling the state (every key) to meet them.
    broadcast: bool = False

    def versions(self, source: str) -> DataFrame:
        return self.spark.read.format("delta").load(state_path(self.warehouse, source))

    def state_sizes(self, spec: SourceSpec, parent: str | None) -> dict[str, int]:
        """Bytes of the key state tables a source's validation reads: its own, and its parent's."""
        paths = [state_path(self.warehouse, s) for s in (spec.name, parent) if s is not None]
        return {path: storage.tree_bytes(self.spark, path) for path in paths}

    def months_holding(self, source: str, hash_column: str, keys: DataFrame,
                       columns: Sequence[str]) -> list[dt.date | None]:
        """The months of `source`'s key state that may hold a row whose `hash_column` is the hash
        of `columns` of one of `keys`, read from the hash, the month and `_content` alone: a
        superset (two keys can share a hash) that an exact join then narrows. A key row whose
        `_content` is set (`touched_keys`: a missing key part) stands for that content only: the
        rows missing a key part share a hash, and are in every month."""
        by_content = "_content" in keys.columns
        wanted = keys.select(key_hash(columns).alias("_wanted"),
                             *([F.col("_content").alias("_wanted_content")] if by_content else [])).distinct()
        if self.broadcast:
            wanted = F.broadcast(wanted)
        matches = F.col(hash_column) == F.col("_wanted")
        if by_content:
            matches = matches & (F.col("_wanted_content").isNull() | (F.col("_content") == F.col("_wanted_content")))
        state = self.versions(source).select(hash_column, STATE_MONTH, *(["_content"] if by_content else []))
        return [r[0] for r in state.join(wanted, matches, "left_semi").select(STATE_MONTH).distinct().collect()]

    def _touched(self, spec: SourceSpec, rows: DataFrame, content: Column) -> DataFrame:
        """Rows' keys, each with the content it stands for when a key part is missing and the
        source's uniqueness rules ignore such rows (`Plan.lone_null_keys`), else with none (all
        of the key's versions)."""
        if spec.name not in self.lone_null_keys:
            return rows.select(*spec.key, F.lit(None).cast("bigint").alias("_content"))
        missing = F.lit(False)
        for k in spec.key:
            missing = missing | F.col(k).isNull()
        return rows.select(*spec.key, F.when(missing, content).cast("bigint").alias("_content"))

    def touched_keys(self, spec: SourceSpec, fresh: DataFrame,
                     parent: tuple[Parentage, DataFrame, DataFrame] | None) -> DataFrame:
        """The keys whose outcome this run can change: those of its new rows, those whose parent
        changed (`parent`: the parentage, the parent's validated rows and their earlier rows;
        `changed_parents`), and those quarantined by a rule that a later --as-of can lift. A row
        with a missing key part touches only its own content where it can meet no other
        (`_touched`)."""
        versions = self.versions(spec.name)
        keys = self._touched(spec, fresh, content_hash(fresh, spec))
        if parent is not None:
            parentage, parent_rows, parent_earlier = parent
            parents = changed_parents(parentage, parent_rows, parent_earlier)
            months = self.months_holding(spec.name, PARENT_HASH, parents, ["_touched_parent"])
            if self.broadcast:
                parents = F.broadcast(parents)
            children = (versions.where(publish.in_dates(STATE_MONTH, months))
                        .join(parents, F.col(parentage.foreign_key) == F.col("_touched_parent"), "left_semi"))
            keys = keys.unionByName(self._touched(spec, children, F.col("_content")))
        if self.recheck_rules.get(spec.name):
            keys = keys.unionByName(self._touched(spec, self.quarantined_by_as_of(spec), F.col("_content")))
        return keys.distinct()

    def quarantined_by_as_of(self, spec: SourceSpec) -> DataFrame:
        """The versions that failed a rule a later --as-of can lift (`Plan.recheck_rules`), read
        from the months that can hold them (`Plan.recheck_from`)."""
        recheck = self.recheck_rules.get(spec.name, ())
        lifted = F.arrays_overlap(F.col("failed_rules.rule"), F.array(*[F.lit(r) for r in recheck]))
        versions, since = self.versions(spec.name), self.recheck_from.get(spec.name)
        return (versions if since is None else versions.where(F.col(STATE_MONTH) >= F.lit(since))).where(lifted)

    def earlier_versions(self, spec: SourceSpec, touched: DataFrame) -> DataFrame:
        """Every version the state holds of the keys in `touched` (`touched_keys`), as the last
        run left them, outcome columns included: validated again with the new rows, and, where
        they were quarantined, the quarantine rows this run replaces.

        Found in two passes: the months that may hold a touched key, from the key hashes alone
        (`months_holding`: one long column of every row, and a list of months to the driver),
        then the whole rows of those months only (a new key has no earlier version at all)."""
        months = self.months_holding(spec.name, KEY_HASH, touched, spec.key)
        return (keyed(self.versions(spec.name).where(publish.in_dates(STATE_MONTH, months)), touched, spec.key,
                      "left_semi", by_content=True, broadcast=self.broadcast)
                .drop(*state_columns(spec.name)))

    @staticmethod
    def rows_to_validate(spec: SourceSpec, fresh: DataFrame, earlier: DataFrame) -> DataFrame:
        """The new rows and the earlier versions (`earlier_versions`) as the validation takes
        them (`split.VERSION_COLUMNS` set; `fresh` only on the new ones)."""
        return as_read_this_run(fresh, spec).unionByName(
            earlier.drop(*OUTCOME_COLUMNS)
            .withColumn("fresh_copies", F.lit(0).cast("bigint"))
            .withColumn("fresh", F.lit(False)), allowMissingColumns=True)

    def parent_rows_after(self, parentage: Parentage, validated: DataFrame,
                          children: DataFrame) -> DataFrame:
        """The parent rows that `children` name, as they stand after this run: earlier versions
        of keys this run did not validate, and the ones it validated (`validated`); only the
        columns the referential check reads.

        Only the named keys this run did not validate are looked up in the key state: a day's
        transactions mostly name the day's own orders, so the months searched are those of the
        few orders that came in earlier files, not every month the state holds."""
        parent_key = SOURCE_SPECS[parentage.parent].key[0]
        columns = [parent_key, "quarantined", *parentage.attributes]
        # a missing foreign key names no parent (the referential join is an equality)
        named = (children.select(F.col(parentage.foreign_key).alias(parent_key))
                 .where(F.col(parent_key).isNotNull()).distinct())
        not_validated = keyed(named, validated.select(parent_key).distinct(), [parent_key], "left_anti",
                              broadcast=self.broadcast)
        months = self.months_holding(parentage.parent, KEY_HASH, not_validated, [parent_key])
        untouched = keyed(self.versions(parentage.parent).where(publish.in_dates(STATE_MONTH, months))
                          .select(*columns), not_validated, [parent_key], "left_semi", broadcast=self.broadcast)
        return untouched.unionByName(keyed(validated.select(*columns), named, [parent_key], "left_semi"))
