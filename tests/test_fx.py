"""lib/fx.py: reference data readers, the daily rate table, USD amounts and reason categories.

Expected values are worked out by hand (see the comments) and written as literals.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F, types as T

from lib.fx import daily_rates, read_fx_rates, read_reason_codes, with_reason_category, with_usd
from lib.schemas import CLEAN_TRANSACTIONS, FX_RATES, REASON_CODES

D = dt.date
JUN_30, JUL_01, JUL_02 = D(2026, 6, 30), D(2026, 7, 1), D(2026, 7, 2)

DAILY = T.StructType([
    T.StructField("currency", T.StringType(), False),
    T.StructField("rate_date", T.DateType(), False),
    T.StructField("rate_to_usd", T.DoubleType(), False),
])


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def fx_rates(spark):
    # EUR changes on 2026-07-01; GBP has no rate before 2026-07-02; JPY is not listed at all.
    return spark.createDataFrame(
        [
            ("USD", 1.0, D(2000, 1, 1)),
            ("EUR", 1.0850, D(2000, 1, 1)),
            ("EUR", 1.0920, JUL_01),
            ("GBP", 1.2710, JUL_02),
            ("ILS", 0.2680, D(2000, 1, 1)),
            ("ILS", 0.2705, JUL_01),
        ],
        FX_RATES,
    )


# --- read_fx_rates ---------------------------------------------------------------------------------
def test_read_fx_rates_reads_the_contract_file(spark, repo_root):
    actual = read_fx_rates(spark, str(repo_root / "conf" / "fx_rates.csv"))

    expected = spark.createDataFrame(
        [
            ("USD", 1.0, D(2000, 1, 1)),
            ("EUR", 1.0850, D(2000, 1, 1)),
            ("EUR", 1.0920, JUL_01),
            ("GBP", 1.2650, D(2000, 1, 1)),
            ("GBP", 1.2710, JUL_01),
            ("ILS", 0.2680, D(2000, 1, 1)),
            ("ILS", 0.2705, JUL_01),
        ],
        FX_RATES,
    )
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_read_fx_rates_trims_values_and_skips_blank_lines(spark, tmp_path):
    path = write(
        tmp_path, "fx.csv",
        "\ufeffcurrency,rate_to_usd,valid_from\r\n EUR , 1.0850 ,2000-01-01\r\n\r\nGBP,1.2710, 2026-07-01 \r\n",
    )

    expected = spark.createDataFrame(
        [("EUR", 1.0850, D(2000, 1, 1)), ("GBP", 1.2710, JUL_01)], FX_RATES
    )
    assert_df_equality(read_fx_rates(spark, path), expected, ignore_row_order=True)


@pytest.mark.parametrize(
    "header",
    [
        "currency,rate,valid_from",             # wrong name
        "rate_to_usd,currency,valid_from",      # wrong order
        "currency,rate_to_usd",                 # missing column
        "currency,rate_to_usd,valid_from,note",  # extra column
        "Currency,Rate_To_USD,Valid_From",      # names are exact, case included
        "EUR,1.0850,2000-01-01",                # no header at all
    ],
)
def test_read_fx_rates_rejects_a_bad_header_naming_the_path(spark, tmp_path, header):
    path = write(tmp_path, "fx.csv", f"{header}\nUSD,1.0,2000-01-01\n")

    with pytest.raises(ValueError, match=rf"^{re.escape(path)}: bad header .*expected currency,rate_to_usd,valid_from$"):
        read_fx_rates(spark, path)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("EUR,abc,2000-01-01", "line 2: rate_to_usd 'abc' is not a number"),
        ("EUR,,2000-01-01", "line 2: rate_to_usd '' is not a number"),
        ("EUR,0,2000-01-01", "line 2: rate_to_usd '0' is not a positive number"),
        ("EUR,-1.2,2000-01-01", "line 2: rate_to_usd '-1.2' is not a positive number"),
        ("EUR,nan,2000-01-01", "line 2: rate_to_usd 'nan' is not a positive number"),
        ("EUR,1.0850,2026-13-01", "line 2: valid_from '2026-13-01' is not a YYYY-MM-DD date"),
        ("EUR,1.0850,01/07/2026", "line 2: valid_from '01/07/2026' is not a YYYY-MM-DD date"),
        ("EUR,1.0850,20260701", "line 2: valid_from '20260701' is not a YYYY-MM-DD date"),
        ("EUR,1.0850,", "line 2: valid_from '' is not a YYYY-MM-DD date"),
        (" ,1.0850,2000-01-01", "line 2: currency '' is missing"),
        ("EUR,1.0850", "line 2: expected 3 fields, got 2"),
        ("EUR,1.0850,2000-01-01,x", "line 2: expected 3 fields, got 4"),
        ("EUR,1.0920,2000-01-01", "line 3: EUR valid_from 2000-01-01 repeats line 2"),
    ],
)
def test_read_fx_rates_rejects_an_unparseable_value_naming_path_and_line(spark, tmp_path, row, message):
    # line 3 is valid; it makes line 2's (EUR, 2000-01-01) repeat in the last case
    path = write(tmp_path, "fx.csv", f"currency,rate_to_usd,valid_from\n{row}\nEUR,1.0850,2000-01-01\n")

    with pytest.raises(ValueError) as raised:
        read_fx_rates(spark, path)
    assert str(raised.value) == f"{path}: {message}"


def test_read_fx_rates_rejects_a_missing_or_empty_file_in_one_line(spark, tmp_path):
    missing = str(tmp_path / "nowhere.csv")
    with pytest.raises(ValueError, match=rf"^{re.escape(missing)}: cannot read reference file: ") as raised:
        read_fx_rates(spark, missing)
    assert "\n" not in str(raised.value)

    empty = write(tmp_path, "empty.csv", "\n\n")
    with pytest.raises(ValueError, match=rf"^{re.escape(empty)}: empty reference file"):
        read_fx_rates(spark, empty)


# --- read_reason_codes -----------------------------------------------------------------------------
def test_read_reason_codes_keys_are_trimmed_lower_cased_and_unique(spark, tmp_path):
    path = write(
        tmp_path, "reasons.csv",
        "reason_code,category\n Fraudulent_Charge ,fraud\nfraudulent_charge,fraud\n 10.4 ,fraud\n"
        "A01,authorization\n13.1, consumer_dispute\n",
    )

    expected = spark.createDataFrame(
        [
            ("fraudulent_charge", "fraud"),
            ("10.4", "fraud"),
            ("a01", "authorization"),
            ("13.1", "consumer_dispute"),
        ],
        REASON_CODES,
    )
    assert_df_equality(read_reason_codes(spark, path), expected, ignore_row_order=True)


def test_read_reason_codes_reads_the_contract_file(spark, repo_root):
    codes = read_reason_codes(spark, str(repo_root / "conf" / "reason_codes.csv"))

    expected = spark.createDataFrame(
        [("fraudulent_charge", "fraud"), ("10.4", "fraud"), ("4837", "fraud"),
         ("a01", "authorization"), ("12.6.1", "processing_error"), ("c08", "consumer_dispute")],
        REASON_CODES,
    )
    sample = codes.where(F.col("reason_code").isin("fraudulent_charge", "10.4", "4837", "a01", "12.6.1", "c08"))
    assert_df_equality(sample, expected, ignore_row_order=True)
    assert codes.count() == 55  # every data line of the file, none repeated


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,category\n10.4,fraud\n", "bad header 'code,category', expected reason_code,category"),
        ("category,reason_code\n10.4,fraud\n", "bad header 'category,reason_code', expected reason_code,category"),
        ("reason_code\n10.4\n", "bad header 'reason_code', expected reason_code,category"),
        ("reason_code,category\n10.4,theft\n", "line 2: category 'theft' is not one of fraud, authorization, processing_error, consumer_dispute"),
        ("reason_code,category\n,fraud\n", "line 2: reason_code '' is missing"),
        ("reason_code,category\n10.4\n", "line 2: expected 2 fields, got 1"),
        ("reason_code,category\n10.4,fraud\n 10.4 ,authorization\n", "line 3: reason_code '10.4' is authorization here but fraud on line 2"),
    ],
)
def test_read_reason_codes_rejects_bad_files_naming_the_path(spark, tmp_path, text, message):
    path = write(tmp_path, "reasons.csv", text)

    with pytest.raises(ValueError) as raised:
        read_reason_codes(spark, path)
    assert str(raised.value) == f"{path}: {message}"


# --- daily_rates -----------------------------------------------------------------------------------
def test_daily_rates_gives_the_rate_in_force_on_each_day(spark, fx_rates):
    actual = daily_rates(fx_rates, JUN_30, JUL_02)

    expected = spark.createDataFrame(
        [
            ("USD", JUN_30, 1.0), ("USD", JUL_01, 1.0), ("USD", JUL_02, 1.0),
            # the old EUR rate holds up to the day before the new valid_from
            ("EUR", JUN_30, 1.0850), ("EUR", JUL_01, 1.0920), ("EUR", JUL_02, 1.0920),
            # no GBP rate is in force before its first valid_from: no rows
            ("GBP", JUL_02, 1.2710),
            ("ILS", JUN_30, 0.2680), ("ILS", JUL_01, 0.2705), ("ILS", JUL_02, 0.2705),
        ],
        DAILY,
    )
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_daily_rates_accepts_iso_strings_and_a_single_day(spark, fx_rates):
    actual = daily_rates(fx_rates, "2026-07-01", "2026-07-01")

    expected = spark.createDataFrame(
        [("USD", JUL_01, 1.0), ("EUR", JUL_01, 1.0920), ("ILS", JUL_01, 0.2705)], DAILY
    )
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_daily_rates_is_empty_before_any_rate_or_for_an_empty_range(spark, fx_rates):
    empty = spark.createDataFrame([], DAILY)

    assert_df_equality(daily_rates(fx_rates, D(1999, 12, 1), D(1999, 12, 31)), empty)
    assert_df_equality(daily_rates(fx_rates, JUL_02, JUN_30), empty)


# --- with_usd --------------------------------------------------------------------------------------
def txn(transaction_id, amount, currency, txn_date, fx_rate=None, amount_usd=None):
    return (
        transaction_id, "o1", dt.datetime.combine(txn_date, dt.time(12)), Decimal(amount), currency,
        "completed", "credit_card", "Visa", None, fx_rate,
        None if amount_usd is None else Decimal(amount_usd), [], txn_date,
    )


def test_with_usd_uses_the_rate_in_force_and_rounds_half_up_in_decimals(spark, fx_rates):
    transactions = spark.createDataFrame(
        [
            txn("eur_day_before", "1.00", "EUR", JUN_30),
            txn("eur_new_rate_day", "1.00", "EUR", JUL_01),
            txn("eur_half_even_would_differ", "5.00", "EUR", JUN_30),
            txn("eur_double_would_differ", "11.00", "EUR", JUN_30),
            txn("ils_third_decimal_five", "3.75", "ILS", JUN_30),
            txn("ils_four_decimal_rate", "10.00", "ILS", JUL_01),
            txn("eur_large", "12345678.91", "EUR", JUN_30),
            txn("usd", "19.99", "USD", JUL_02),
            txn("gbp_before_first_rate", "10.00", "GBP", JUL_01),
            txn("jpy_never_listed", "500.00", "JPY", JUL_01),
        ],
        CLEAN_TRANSACTIONS,
    )

    actual = with_usd(
        transactions, daily_rates(fx_rates, JUN_30, JUL_02),
        amount_col="amount", currency_col="currency", date_col="txn_date",
    )

    expected = spark.createDataFrame(
        [
            txn("eur_day_before", "1.00", "EUR", JUN_30, 1.0850, "1.09"),       # 1.085, half up
            txn("eur_new_rate_day", "1.00", "EUR", JUL_01, 1.0920, "1.09"),     # 1.092
            txn("eur_half_even_would_differ", "5.00", "EUR", JUN_30, 1.0850, "5.43"),  # 5.425
            # 11.935 exactly; as doubles 11 * 1.085 = 11.934999999999999, which rounds to 11.93
            txn("eur_double_would_differ", "11.00", "EUR", JUN_30, 1.0850, "11.94"),
            txn("ils_third_decimal_five", "3.75", "ILS", JUN_30, 0.2680, "1.01"),      # 1.005
            txn("ils_four_decimal_rate", "10.00", "ILS", JUL_01, 0.2705, "2.71"),      # 2.705
            txn("eur_large", "12345678.91", "EUR", JUN_30, 1.0850, "13395061.62"),     # 13395061.61735
            txn("usd", "19.99", "USD", JUL_02, 1.0, "19.99"),
            txn("gbp_before_first_rate", "10.00", "GBP", JUL_01),
            txn("jpy_never_listed", "500.00", "JPY", JUL_01),
        ],
        CLEAN_TRANSACTIONS,
    )
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_with_usd_appends_named_columns_and_takes_the_utc_date_of_a_timestamp(spark, fx_rates):
    chargebacks = spark.createDataFrame(
        [
            ("cb1", Decimal("3.00"), "EUR", dt.datetime(2026, 6, 30, 23, 59, 59)),
            ("cb2", Decimal("3.00"), "EUR", dt.datetime(2026, 7, 1, 0, 0, 0)),
        ],
        "chargeback_id string, amount decimal(18,2), currency string, disputed_at timestamp",
    )

    actual = with_usd(
        chargebacks, daily_rates(fx_rates, JUN_30, JUL_01),
        amount_col="amount", currency_col="currency", date_col="disputed_at",
        rate_col="rate", usd_col="usd",
    )

    expected = spark.createDataFrame(
        [
            ("cb1", Decimal("3.00"), "EUR", dt.datetime(2026, 6, 30, 23, 59, 59), 1.0850, Decimal("3.26")),  # 3.255
            ("cb2", Decimal("3.00"), "EUR", dt.datetime(2026, 7, 1, 0, 0, 0), 1.0920, Decimal("3.28")),     # 3.276
        ],
        "chargeback_id string, amount decimal(18,2), currency string, disputed_at timestamp, "
        "rate double, usd decimal(18,2)",
    )
    assert_df_equality(actual, expected, ignore_row_order=True)


# --- with_reason_category --------------------------------------------------------------------------
def test_with_reason_category_matches_trimmed_lower_cased_codes_else_unknown(spark, repo_root):
    reason_codes = read_reason_codes(spark, str(repo_root / "conf" / "reason_codes.csv"))
    chargebacks = spark.createDataFrame(
        [
            ("cb_text", "fraudulent_charge"),
            ("cb_visa", " 10.4 "),
            ("cb_mastercard", "4837"),
            ("cb_upper", "FRAUD"),
            ("cb_consumer", "13.1"),
            ("cb_authorization", "A01"),
            ("cb_unlisted", "not_a_reason"),
            ("cb_near_miss", "10.40"),
            ("cb_missing", None),
        ],
        "chargeback_id string, reason_code string",
    )

    actual = with_reason_category(chargebacks, reason_codes)

    expected = spark.createDataFrame(
        [
            ("cb_text", "fraudulent_charge", "fraud"),
            ("cb_visa", " 10.4 ", "fraud"),
            ("cb_mastercard", "4837", "fraud"),
            ("cb_upper", "FRAUD", "fraud"),
            ("cb_consumer", "13.1", "consumer_dispute"),
            ("cb_authorization", "A01", "authorization"),
            ("cb_unlisted", "not_a_reason", "unknown"),
            ("cb_near_miss", "10.40", "unknown"),
            ("cb_missing", None, "unknown"),
        ],
        T.StructType([
            T.StructField("chargeback_id", T.StringType()),
            T.StructField("reason_code", T.StringType()),
            T.StructField("reason_category", T.StringType(), False),
        ]),
    )
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_with_reason_category_replaces_a_column_in_place_and_normalises_the_reference(spark):
    # a hand-built reference frame, not from the reader: keys are normalised by the lookup too
    reason_codes = spark.createDataFrame(
        [(" Fraudulent_Charge ", "fraud"), ("fraudulent_charge", "fraud")], REASON_CODES
    )
    chargebacks = spark.createDataFrame(
        [("cb1", "FRAUDULENT_CHARGE", None, "won"), ("cb2", "4837", "stale", "lost")],
        "chargeback_id string, code string, category string, status string",
    )

    actual = with_reason_category(chargebacks, reason_codes, code_col="code", out_col="category")

    expected = spark.createDataFrame(
        [("cb1", "FRAUDULENT_CHARGE", "fraud", "won"), ("cb2", "4837", "unknown", "lost")],
        T.StructType([
            T.StructField("chargeback_id", T.StringType()),
            T.StructField("code", T.StringType()),
            T.StructField("category", T.StringType(), False),
            T.StructField("status", T.StringType()),
        ]),
    )
    assert_df_equality(actual, expected, ignore_row_order=True)
