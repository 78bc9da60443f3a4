"""Synthetic raw data for the pipeline, with known defects and a manifest of the expected counts.

spark-submit.sh jobs/generate_data.py --out DIR --rows N --format assignment|jsonl --seed S
    --as-of TS --defect-rate R [--days D] [--chargeback-rate C] [--parts P]
    [--reason-codes FILE] [--fx-rates FILE]

See docs/generator.md.
"""
from __future__ import annotations

import argparse
import calendar
import json
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from lib.console import format_seconds
from lib.generator import SOURCES, source_lines
from lib.generator.chargebacks import CSV_HEADER
from lib.generator.files import OutputFiles
from lib.generator.manifest import TRANSACTION_WARNINGS, source_manifest
from lib.generator.params import FORMATS, GeneratorParams, default_parts
from lib.schemas import FX_RATES, REASON_CODES
from lib.session import build_session


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="generate_data", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, required=True, help="number of transactions")
    parser.add_argument("--format", choices=FORMATS, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--as-of", required=True, help="ISO-8601; the last generated instant")
    parser.add_argument("--defect-rate", type=float, required=True)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--chargeback-rate", type=float, default=0.015,
                        help="share of completed transactions with a chargeback")
    parser.add_argument("--parts", type=int, default=None,
                        help="part files per source in jsonl (default: one per ~250k rows, min 2)")
    parser.add_argument("--reason-codes", default="conf/reason_codes.csv")
    parser.add_argument("--fx-rates", default="conf/fx_rates.csv")
    return parser.parse_args(argv)


def parse_as_of(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read_reason_codes(spark: SparkSession, path: str) -> tuple[str, ...]:
    codes = spark.read.csv(path, header=True, schema=REASON_CODES).select(F.trim("reason_code"))
    return tuple(sorted({row[0] for row in codes.collect() if row[0]}))


def read_fx_valid_from(spark: SparkSession, path: str) -> dict[str, int]:
    """Earliest valid_from per currency, as epoch seconds of that midnight UTC."""
    first = (spark.read.csv(path, header=True, schema=FX_RATES)
             .groupBy(F.trim("currency").alias("currency"))
             .agg(F.min("valid_from").alias("valid_from")))
    return {row["currency"]: calendar.timegm(row["valid_from"].timetuple()) for row in first.collect()}


def progress(what: str, count: int, unit: str, started: float) -> None:
    """One line on stderr per file or group of part files written: a long generation shows it
    is moving, and how fast."""
    print(f"[{datetime.now():%H:%M:%S}] generate_data: {what}: {count:,} {unit} in "
          f"{format_seconds(time.perf_counter() - started)}", file=sys.stderr, flush=True)


class Counted:
    """Streams `chunks` through while counting the records among them (the rows of a file)."""

    def __init__(self, chunks: Iterable[str], records: int = 0):
        self.chunks, self.records = chunks, records

    def __iter__(self) -> Iterator[str]:
        for chunk in self.chunks:
            self.records += 1
            yield chunk


def _write_parts_counted(files: OutputFiles, lines: DataFrame, folder: str, chunks: list[int], *,
                         compress: bool, extension: str) -> None:
    """files.write_parts with a line of progress; the count comes with the write (an
    Observation), not from a second pass over the data."""
    started = time.perf_counter()
    counted = Observation(f"{folder}_{'gz' if compress else 'plain'}")
    files.write_parts(lines.observe(counted, F.count(F.lit(1)).alias("rows")), folder, chunks,
                      compress=compress, extension=extension)
    kind = f"{extension}{'.gz' if compress else ''}"
    progress(f"{folder}: {len(chunks)} part file{'s' if len(chunks) != 1 else ''} ({kind})",
             int(counted.get["rows"]), "lines" if extension == "csv" else "records", started)


def _write_text_counted(files: OutputFiles, name: str, chunks: Iterable[str], framing: int) -> None:
    """files.write_text with a line of progress; `framing` chunks are not rows ([ and ] of an
    array, the CSV header)."""
    started = time.perf_counter()
    counted = Counted(chunks, records=-framing)
    files.write_text(files.path(name), counted)
    progress(name, counted.records, "records", started)


def json_array(lines: DataFrame) -> Iterator[str]:
    """The assignment's layout: one pretty-printed array, streamed a partition at a time."""
    yield "["
    separator = "\n  "
    for row in lines.select("line").toLocalIterator():
        yield separator + row["line"]
        separator = ",\n  "
    yield "\n]\n"


def csv_file(lines: DataFrame) -> Iterator[str]:
    yield CSV_HEADER + "\n"
    for row in lines.select("line").toLocalIterator():
        yield row["line"] + "\n"


def write_assignment(spark: SparkSession, params: GeneratorParams, files: OutputFiles) -> None:
    lines = source_lines(spark, params, list(range(params.parts)), pretty=True, csv_headers=False)
    for name in ("transactions.json", "orders.json", "chargebacks.csv"):
        files.delete(files.path(name))
    _write_text_counted(files, "transactions.json", json_array(lines["transactions"]), framing=2)
    _write_text_counted(files, "orders.json", json_array(lines["orders"]), framing=2)
    _write_text_counted(files, "chargebacks.csv", csv_file(lines["chargebacks"]), framing=1)


def write_jsonl(spark: SparkSession, params: GeneratorParams, files: OutputFiles) -> None:
    """JSON Lines with every other part gzip-compressed; chargebacks as plain CSV parts."""
    for source in SOURCES:
        files.delete(files.path(source))
    every = list(range(params.parts))
    for compress in (False, True):
        chunks = [k for k in every if k % 2 == int(compress)]
        if not chunks:
            continue
        lines = source_lines(spark, params, chunks, pretty=False, csv_headers=True)
        for source in ("transactions", "orders"):
            _write_parts_counted(files, lines[source], source, chunks, compress=compress,
                                 extension="jsonl")
    chargebacks = source_lines(spark, params, every, pretty=False, csv_headers=True)["chargebacks"]
    _write_parts_counted(files, chargebacks, "chargebacks", every, compress=False, extension="csv")
    files.delete(files.path("_staging"))


def build_manifest(spark: SparkSession, params: GeneratorParams, arguments: dict) -> dict:
    lines = source_lines(spark, params, list(range(params.parts)), pretty=False, csv_headers=False)
    return {
        "generator": arguments,
        **{
            source: source_manifest(
                lines[source], warnings=TRANSACTION_WARNINGS if source == "transactions" else ())
            for source in SOURCES
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    spark = build_session("chargeback-pipeline-generate-data")
    params = GeneratorParams(
        rows=args.rows,
        seed=args.seed,
        as_of=parse_as_of(args.as_of),
        defect_rate=args.defect_rate,
        format=args.format,
        days=args.days,
        chargeback_rate=args.chargeback_rate,
        parts=args.parts or default_parts(args.rows),
        reason_codes=read_reason_codes(spark, args.reason_codes),
        fx_valid_from=read_fx_valid_from(spark, args.fx_rates),
    )
    params.validate()
    files = OutputFiles(spark, args.out)
    if params.format == "jsonl":
        write_jsonl(spark, params, files)
    else:
        write_assignment(spark, params, files)
    arguments = {**vars(args), "parts": params.parts}
    started = time.perf_counter()
    manifest = build_manifest(spark, params, arguments)
    files.write_text(files.path("manifest.json"), [json.dumps(manifest, indent=2) + "\n"])
    progress("manifest.json", sum(manifest[s]["rows_written"] for s in SOURCES), "records counted", started)
    print(f"generate_data wrote {args.format} data to {args.out}: "
          + ", ".join(f"{s} {manifest[s]['rows_written']}" for s in SOURCES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
