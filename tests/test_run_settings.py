"""Run settings: sized from the input's bytes, set after discovery, given back when the run ends."""
from __future__ import annotations

import pytest

from lib import run_settings

MIB = 1 << 20
INTERPRETED = {"spark.sql.codegen.wholeStage": "false", "spark.sql.codegen.factoryMode": "NO_CODEGEN"}


def test_an_assignment_sized_input_is_evaluated_interpreted():
    assert run_settings.sized_for(16_000, 2) == {
        "spark.sql.shuffle.partitions": "2",
        "spark.databricks.delta.snapshotPartitions": "2",
        **INTERPRETED,
    }


def test_from_eight_mib_on_expressions_are_compiled():
    assert run_settings.sized_for(8 * MIB - 1, 2).keys() >= INTERPRETED.keys()
    assert run_settings.sized_for(8 * MIB, 2) == {
        "spark.sql.shuffle.partitions": "2",
        "spark.databricks.delta.snapshotPartitions": "2",
    }
    # the 1M benchmark's raw text: 6 shuffle partitions, compiled
    assert run_settings.sized_for(615 * MIB, 2) == {
        "spark.sql.shuffle.partitions": "6",
        "spark.databricks.delta.snapshotPartitions": "2",
    }


def test_the_settings_file_fixes_the_shuffle_width_and_log_replay_stays_at_most_50_tasks():
    conf = run_settings.sized_for(615 * MIB, 64, shuffle_partitions=7)
    assert conf == {"spark.sql.shuffle.partitions": "7", "spark.databricks.delta.snapshotPartitions": "50"}


@pytest.fixture
def unused_keys(spark):
    keys = ("spark.chargeback.test.unset", "spark.chargeback.test.set")
    spark.conf.set(keys[1], "before")
    yield keys
    for key in keys:
        spark.conf.unset(key)


def test_apply_sets_the_keys_and_restore_gives_back_set_and_unset_ones(spark, unused_keys):
    unset, was_set = unused_keys
    restore = run_settings.apply(spark, {unset: "during", was_set: "during"})
    assert (spark.conf.get(unset), spark.conf.get(was_set)) == ("during", "during")
    restore()
    assert spark.conf.get(unset, None) is None
    assert spark.conf.get(was_set) == "before"
