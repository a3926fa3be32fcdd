"""Column-wise key bytes and partitions equal the record path's, byte for byte."""

from __future__ import annotations

import json
import subprocess
import sys
import zlib

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.arrow.keys import MAX_VECTOR_KEY_BYTES, byte_order, crc32, hash64, json_key_bytes, partitions
from engine.shuffle import partition_of

TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["", '"', "\\", "\x7f", "\t", "é", "a b"]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXT), max_size=60))
def test_json_strings_as_json_dumps(values):
    got = json_key_bytes([pa.array(values, pa.string())])
    assert got.to_pylist() == [json.dumps(v).encode() for v in values]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)), st.one_of(st.none(), TEXT)),
        max_size=40,
    )
)
def test_several_key_columns_as_a_json_list(rows):
    ints = pa.array([r[0] for r in rows], pa.int64())
    texts = pa.array([r[1] for r in rows], pa.string())
    got = json_key_bytes([ints, texts])
    assert got.to_pylist() == [json.dumps([a, b]).encode() for a, b in rows]


def test_booleans_nulls_and_unsupported_types():
    assert json_key_bytes([pa.array([True, None, False])]).to_pylist() == [b"true", b"null", b"false"]
    assert json_key_bytes([pa.nulls(2)]).to_pylist() == [b"null", b"null"]
    assert json_key_bytes([pa.array([1.5])]) is None  # float text: json's repr, not Arrow's
    assert json_key_bytes([pa.array([[1]])]) is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=30), max_size=80))
def test_crc32_equals_zlib(values):
    got = crc32(pa.array(values, pa.binary()))
    assert got.tolist() == [zlib.crc32(v) for v in values]


def test_crc32_of_long_keys_sliced_arrays_and_strings():
    values = [b"x" * (MAX_VECTOR_KEY_BYTES + 7), b"", b"short", bytes(range(256)) * 3]
    array = pa.array(values * 3, pa.binary()).slice(2, 7)
    assert crc32(array).tolist() == [zlib.crc32(v) for v in (values * 3)[2:9]]
    strings = pa.chunked_array([["a", "é"], ["zz"]])
    assert crc32(strings).tolist() == [zlib.crc32(s.encode()) for s in ("a", "é", "zz")]
    assert crc32(pa.array([], pa.binary())).tolist() == []


def test_partitions_match_the_record_path():
    keys = [json.dumps(k).encode() for k in ["a", "b", 7, None, "ü", [1, "x"]]]
    for n in (1, 2, 3, 7):
        got = partitions(pa.array(keys, pa.binary()), n).tolist()
        assert got == [partition_of(k, n) for k in keys]


def _hash64_reference(value: bytes) -> int:
    """``hash64`` of one value, written out a word at a time."""
    mask = (1 << 64) - 1
    mix = 0x9E3779B97F4A7C15
    h = (len(value) * mix) & mask
    for at in range(0, len(value), 8):
        word = int.from_bytes(value[at : at + 8], "little")
        h = ((h ^ word) * mix) & mask
        h ^= h >> 29
    return h


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=70), max_size=80))
def test_hash64_is_the_word_at_a_time_hash(values):
    assert hash64(pa.array(values, pa.binary())).tolist() == [_hash64_reference(v) for v in values]


def test_hash64_of_strings_slices_large_types_and_trailing_zero_bytes():
    values = ["", "a", "a\x00", "abcdefgh", "abcdefghi", "é" * 30] * 3
    expected = [_hash64_reference(v.encode()) for v in values]
    assert hash64(pa.array(values)).tolist() == expected
    assert hash64(pa.array(values, pa.large_string())).tolist() == expected
    assert hash64(pa.chunked_array([values[:5], values[5:]])).tolist() == expected
    assert hash64(pa.array(values).slice(4, 7)).tolist() == expected[4:11]
    many = [str(i) * (i % 9) for i in range(200_000)]  # more than one chunk of rows
    assert hash64(pa.array(many)).tolist()[-5:] == [_hash64_reference(v.encode()) for v in many[-5:]]
    assert len(set(hash64(pa.array(["a", "a\x00", "a\x00\x00"])).tolist())) == 3
    assert len(hash64(pa.array([], pa.string()))) == 0


@pytest.mark.parametrize("fast", [True, False], ids=["polars", "hash64"])
def test_key_hash64_gives_equal_values_equal_hashes_in_every_process(
    fast: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the join index is hashed in one process and probed in the others (engine.sql.vector): a
    # value's hash is the same whatever array holds it (type, chunks, slice) and in a new process
    from engine.arrow import keys

    if not fast:
        monkeypatch.setattr(keys, "_polars", lambda: None)
    else:  # polars is an engine dependency from Python 3.11; before, key_hash64 is hash64
        assert (keys._polars() is not None) == (sys.version_info >= (3, 11))
    values = ["", "a", "a\x00", "abcdefgh", "abcdefghi", "é" * 30, "http://x.org/" * 5] * 3
    want = keys.key_hash64(pa.array(values)).tolist()
    assert len(set(want)) == 7  # a hash of the values, not a constant
    assert keys.key_hash64(pa.array(values, pa.large_string())).tolist() == want
    assert keys.key_hash64(pa.array([v.encode() for v in values], pa.binary())).tolist() == want
    assert keys.key_hash64(pa.chunked_array([values[:5], values[5:]])).tolist() == want
    assert keys.key_hash64(pa.array(values).slice(4, 7)).tolist() == want[4:11]
    assert len(keys.key_hash64(pa.array([], pa.string()))) == 0
    with pytest.raises(ValueError):
        keys.key_hash64(pa.array(["a", None]))
    many = [f"u{i}" for i in range(50_000)]
    assert len(set(keys.key_hash64(pa.array(many)).tolist())) == len(many)
    fallback = "from engine.arrow import keys; keys._polars = lambda: None; " if not fast else ""
    code = (
        f"import json, sys, pyarrow as pa; {fallback}from engine.arrow import keys; "
        "print(json.dumps(keys.key_hash64(pa.array(json.loads(sys.argv[1]))).tolist()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(values)], capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == want
    if not fast or keys._polars() is None:
        assert want == keys.hash64(pa.array(values)).tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.sampled_from([b"", b"a", b"ab", b"b", b"\x00", b"a\x00", b"\xff", b"ba"]), max_size=60),
    st.booleans(),
)
def test_byte_order_is_the_stable_sort_of_the_bytes(values, as_text) -> None:
    # keys that repeat go through their dictionary; the order is sort_indices', ties in row order
    array = pa.array(values, pa.binary())
    if as_text:
        array = pa.array([v.decode("latin-1") for v in values], pa.string())
    want = sorted(
        range(len(values)), key=lambda i: (array[i].as_py().encode("utf-8") if as_text else values[i], i)
    )
    assert byte_order(array).to_pylist() == want
    assert byte_order(pa.chunked_array([array[:5], array[5:]], array.type)).to_pylist() == want
