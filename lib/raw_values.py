"""What every reader does to raw values: strings trimmed (empty means missing), failures as structs."""
from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# The reader's own rules: a row failing one is quarantined with it alone and validated no further.
MALFORMED_RECORD = "malformed_record"
WRONG_TYPE = "wrong_type"
READER_RULES = (MALFORMED_RECORD, WRONG_TYPE)

# Raw text holds the bytes as read: a record that is not valid UTF-8 is not JSON or CSV text, and
# its values are not the ones sent (they would read back with U+FFFD for every invalid byte, so
# two different broken ids would read as one). Such a record is malformed.
NOT_UTF8_MESSAGE = "not valid UTF-8"


def not_utf8(record: Column) -> Column:
    return ~F.is_valid_utf8(record)


def failure(rule: str, message: Column) -> Column:
    return F.struct(F.lit(rule).alias("rule"), message.alias("message"))


def blank_to_null(text: Column) -> Column:
    trimmed = F.trim(text)
    return F.when(trimmed != "", trimmed)
