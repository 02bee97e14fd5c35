"""Key building and id validation (observability/models/keys.py)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from observability.errors import InvalidInput
from observability.models.keys import (
    DELIMITER,
    MAX_ID_BYTES,
    BatchKey,
    archive_prefix,
    archive_sk,
    batch_id_from_sk,
    failed_partition,
    failed_partitions,
    job_id_from_pk,
    job_pk,
    live_partition,
    live_partitions,
    shard_of,
    state_prefix,
    validate_id,
)

# Printable text with no delimiter: what a valid id looks like.
valid_chars = st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=DELIMITER)
CRC_JOB_BATCH = 2243371550  # zlib.crc32(b"job#batch"), computed once, pinned here
valid_ids = st.text(valid_chars, min_size=1, max_size=50).filter(lambda s: s.strip())


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2024-05", "2024-05"), ("a", "a"), (5, "5"), (0, "0"), (-3, "-3"), ("mois-été", "mois-été")],
)
def test_valid_ids_are_returned_as_strings(value: object, expected: str) -> None:
    assert validate_id("batch_id", value) == expected


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty"),
        ("   ", "blank"),
        ("\t\n", "blank"),
        ("a#b", "delimiter"),
        ("#", "delimiter"),
        ("a" * (MAX_ID_BYTES + 1), f"limit is {MAX_ID_BYTES} bytes"),
        ("é" * 101, "202 bytes"),  # 101 characters, 202 bytes of UTF-8
        ("😀" * 51, "204 bytes"),  # 51 characters, 204 bytes of UTF-8
        ("a\x00b", "control"),
        ("a\nb", "control"),
        ("tab\there", "control"),
        ("del\x7f", "control"),
        (True, "bool"),
        (False, "bool"),
        (None, "NoneType"),
        (1.5, "float"),
        (b"bytes", "bytes"),
        (["a"], "list"),
    ],
)
def test_invalid_ids_name_the_field_and_the_problem(value: object, problem: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_id("job_id", value)
    assert info.value.field == "job_id"
    assert str(info.value).startswith("job_id: ")
    assert problem in str(info.value)


def test_invalid_input_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="batch_id"):
        validate_id("batch_id", "")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("a" * MAX_ID_BYTES, True),
        ("a" * (MAX_ID_BYTES + 1), False),
        ("é" * (MAX_ID_BYTES // 2), True),  # exactly 200 bytes
        ("é" * (MAX_ID_BYTES // 2) + "a", False),
        ("€" * 66 + "aa", True),  # 3-byte chars: 198 + 2 = 200 bytes
        ("€" * 67, False),  # 201 bytes though only 67 characters
    ],
)
def test_length_limit_counts_utf8_bytes_not_characters(value: str, ok: bool) -> None:
    if ok:
        assert validate_id("batch_id", value) == value
    else:
        with pytest.raises(InvalidInput, match=f"limit is {MAX_ID_BYTES} bytes"):
            validate_id("batch_id", value)


@given(valid_ids)
def test_any_printable_id_without_delimiter_under_the_limit_is_accepted(value: str) -> None:
    assert validate_id("job_id", value) == value


@given(st.text(valid_chars, max_size=20), st.text(valid_chars, max_size=20))
def test_any_id_containing_the_delimiter_is_rejected(left: str, right: str) -> None:
    with pytest.raises(InvalidInput) as info:
        validate_id("job_id", left + DELIMITER + right)
    assert info.value.field == "job_id"


@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=120))
def test_validation_agrees_with_the_rules(value: str) -> None:
    """Accepted exactly when non-blank, no delimiter, <= 200 bytes, no control characters."""
    ok = (
        bool(value.strip())
        and DELIMITER not in value
        and len(value.encode("utf-8")) <= MAX_ID_BYTES
        and not any(unicodedata.category(ch) == "Cc" for ch in value)
    )
    if ok:
        assert validate_id("batch_id", value) == value
    else:
        with pytest.raises(InvalidInput):
            validate_id("batch_id", value)


@given(st.integers())
def test_ints_are_accepted_while_short_enough(value: int) -> None:
    assert validate_id("batch_id", value) == str(value)


def test_lone_surrogate_is_rejected_as_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="batch_id"):
        validate_id("batch_id", "month-\ud800")


def test_batch_key_validates_both_ids_and_names_the_bad_one() -> None:
    with pytest.raises(InvalidInput) as info:
        BatchKey.of("job#1", "b")
    assert info.value.field == "job_id"
    with pytest.raises(InvalidInput) as info:
        BatchKey.of("job", "")
    assert info.value.field == "batch_id"
    assert BatchKey.of("job", 7) == BatchKey("job", "7")


def test_key_formats() -> None:
    key = BatchKey.of("ingest-sales", "2024-05")
    assert key.pk == "JOB#ingest-sales" == job_pk("ingest-sales")
    assert key.sk == "STATE#2024-05"
    assert key.sk.startswith(state_prefix())
    assert batch_id_from_sk(key.sk) == "2024-05"
    assert key.token == "ingest-sales#2024-05"
    assert key.idempotency_key(3) == "ingest-sales#2024-05#3"
    assert job_id_from_pk(key.pk) == "ingest-sales"
    assert archive_prefix("2024-05", "abc") == "ARCHIVE#2024-05#abc#"
    assert archive_sk("2024-05", "abc", 7, 3) == "ARCHIVE#2024-05#abc#0000000007#0003"
    assert archive_sk("2024-05", "abc", 7, 3).startswith(archive_prefix("2024-05", "abc"))


def test_archive_prefix_of_one_batch_does_not_match_another_batch_with_a_longer_id() -> None:
    # history of batch "1" must not pick up the archives of batch "10", nor of another
    # incarnation of the same batch.
    assert not archive_sk("10", "i", 1, 1).startswith(archive_prefix("1", "i"))
    assert not archive_sk("1", "ij", 1, 1).startswith(archive_prefix("1", "i"))


@given(st.lists(st.integers(min_value=0, max_value=9_999_999_999), min_size=2, unique=True))
def test_archive_sort_keys_sort_in_version_order(versions: list[int]) -> None:
    keys = {archive_sk("b", "i", v, 1): v for v in versions}
    assert [keys[k] for k in sorted(keys)] == sorted(versions)


@given(valid_ids, valid_ids, st.integers(min_value=1, max_value=64))
def test_shard_is_stable_and_within_range(job: str, batch: str, shards: int) -> None:
    key = BatchKey.of(job, batch)
    shard = shard_of(key, shards)
    assert 0 <= shard < shards
    assert shard_of(BatchKey.of(job, batch), shards) == shard
    assert failed_partition(key, shards) == f"FAILED#{shard}"
    assert live_partition(key, shards) == f"LIVE#{shard}"
    assert failed_partition(key, shards) in failed_partitions(shards)
    assert live_partition(key, shards) in live_partitions(shards)


def test_shard_is_a_fixed_function_across_processes() -> None:
    # Pinned values (crc32 of "job#batch"): catches a switch to the per-process hash().
    assert shard_of(BatchKey.of("job", "batch"), 8) == CRC_JOB_BATCH % 8
    assert shard_of(BatchKey.of("job", "batch"), 64) == CRC_JOB_BATCH % 64
    assert shard_of(BatchKey.of("job", "batch"), 1) == 0


def test_shards_spread_batches_across_partitions() -> None:
    used = {shard_of(BatchKey.of("job", str(n)), 8) for n in range(200)}
    assert used == set(range(8))


@pytest.mark.parametrize("shards", [1, 8, 64])
def test_partition_lists_cover_every_shard_once(shards: int) -> None:
    assert failed_partitions(shards) == [f"FAILED#{n}" for n in range(shards)]
    assert live_partitions(shards) == [f"LIVE#{n}" for n in range(shards)]
