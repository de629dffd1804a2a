"""The Fetch reader's record batch walk, on batches built byte by byte (format v2, uncompressed):
consecutive offsets stepped over by length, and the gaps a compacted topic leaves; and its LZ4
frame decoder on frames built block by block."""
from __future__ import annotations

import struct

import cramjam
import pytest
from confluent_kafka import KafkaException

from streams import ledger_reader


def _varint(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)  # zig-zag
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _record(delta: int, key: bytes | None, value: bytes | None, delta_ms: int = 0) -> bytes:
    def field(data):
        return _varint(-1) if data is None else _varint(len(data)) + data
    body = b"\x00" + _varint(delta_ms) + _varint(delta) + field(key) + field(value) + _varint(0)
    return _varint(len(body)) + body


def _batch(base: int, deltas: list[int], last_delta: int, first_ms: int = 1_700_000_000_000) -> bytes:
    records = b"".join(_record(d, b"k%d" % (base + d), b"v%d " % (base + d) + bytes(150 + d % 300), d)
                       for d in deltas)
    after_length = struct.pack(">ibIhiqqqhii", 0, 2, 0, 0, last_delta, first_ms, first_ms + last_delta, -1, -1, -1,
                               len(deltas)) + records
    return struct.pack(">qi", base, len(after_length)) + after_length


def _take(batches: bytes, offsets: list[int], position: int | None = None) -> tuple[dict, int]:
    run = ledger_reader._Run(offsets)
    if position is not None:
        run.position = position
    found: dict = {}
    return found, ledger_reader._take_wanted(memoryview(batches), run, found)


def test_a_consecutive_batch_gives_exactly_the_wanted_records_and_the_next_position():
    batches = _batch(100, list(range(300)), 299) + _batch(400, list(range(50)), 49)
    found, next_position = _take(batches, [100, 101, 250, 399, 420])
    assert sorted(found) == [100, 101, 250, 399, 420]
    for offset, (key, value, timestamp_ms) in found.items():
        delta = offset - (100 if offset < 400 else 400)
        assert key == b"k%d" % offset and value.startswith(b"v%d " % offset)
        assert timestamp_ms == 1_700_000_000_000 + delta
    assert next_position == 450


def test_records_whose_lengths_take_one_two_or_three_varint_bytes_are_stepped_over():
    sizes = [0, 20, 300, 9_000, 5, 70_000, 40, 2_000]  # a record of 30 bytes, ~330, ~9,030, ~70,030
    records = b"".join(_record(d, b"k%d" % d, bytes([d]) * size) for d, size in enumerate(sizes))
    after_length = struct.pack(">ibIhiqqqhii", 0, 2, 0, 0, len(sizes) - 1, 7, 7, -1, -1, -1, len(sizes)) + records
    batch = struct.pack(">qi", 0, len(after_length)) + after_length
    for wanted in ([7], [1, 6], [0, 3, 4, 5, 7], list(range(8))):
        found, next_position = _take(batch, wanted)
        assert {o: value for o, (_, value, _) in found.items()} == {o: bytes([o]) * sizes[o] for o in wanted}
        assert next_position == len(sizes)


def test_a_compacted_batch_skips_the_offsets_it_no_longer_holds():
    deltas = [0, 3, 4, 9, 10, 200]  # compaction keeps the batch's offsets, not all its records
    found, next_position = _take(_batch(1_000, deltas, 220), [1_000, 1_001, 1_004, 1_009, 1_150, 1_200])
    assert sorted(found) == [1_000, 1_004, 1_009, 1_200]
    assert next_position == 1_221  # past the batch's last offset delta, not its last record


def test_null_keys_and_values_and_a_batch_cut_off_at_the_end():
    whole = struct.pack(">ibIhiqqqhii", 0, 2, 0, 0, 1, 5, 5, -1, -1, -1, 2) + _record(0, None, b"x") \
        + _record(1, b"k", None)
    batches = struct.pack(">qi", 7, len(whole)) + whole
    cut = _batch(9, list(range(10)), 9)[:-20]  # the broker's answer ends inside this batch
    found, next_position = _take(batches + cut, [7, 8, 12])
    assert found == {7: (None, b"x", 5), 8: (b"k", None, 5)}
    assert next_position == 9  # offset 12 is read by the run's next fetch


def _lz4_frame(chunks: list[bytes], *, independent: bool = True, block_checksums: bool = False,
               content_size: bool = False, stored: tuple[int, ...] = ()) -> bytes:
    """An LZ4 frame built block by block: what a Kafka producer's lz4 batch body is."""
    flags = 0x40 | (0x20 if independent else 0) | (0x10 if block_checksums else 0) | (0x08 if content_size else 0)
    frame = bytearray(b"\x04\x22\x4d\x18" + bytes([flags, 0x40]))
    if content_size:
        frame += struct.pack("<Q", sum(map(len, chunks)))
    frame.append(0)  # the header checksum byte: not checked by the reader (the batch has its CRC)
    for number, chunk in enumerate(chunks):
        block = chunk if number in stored else bytes(cramjam.lz4.compress_block(chunk, store_size=False))
        frame += struct.pack("<I", len(block) | (0x80000000 if number in stored else 0)) + block
        frame += b"\x00\x00\x00\x00" if block_checksums else b""
    return bytes(frame + b"\x00\x00\x00\x00")


CHUNKS = [bytes(range(256)) * 256, b"credit-ledger " * 3_000, b"tail"]  # a full 64 KiB block, then two more


@pytest.mark.parametrize("shape", [{}, {"block_checksums": True}, {"content_size": True}, {"stored": (1,)},
                                   {"block_checksums": True, "content_size": True, "stored": (0, 2)}])
def test_an_lz4_frame_of_independent_blocks_is_decompressed_block_by_block(shape):
    assert bytes(ledger_reader._lz4(_lz4_frame(CHUNKS, **shape))) == b"".join(CHUNKS)
    assert bytes(ledger_reader._lz4(_lz4_frame(CHUNKS[:1], **shape))) == CHUNKS[0]


def test_an_lz4_frame_the_library_wrote_reads_the_same_and_garbage_is_refused():
    data = b"".join(CHUNKS) * 3
    assert bytes(ledger_reader._lz4(bytes(cramjam.lz4.compress(data)))) == data  # linked blocks: the library's decoder
    with pytest.raises(KafkaException, match="not an LZ4 frame"):
        ledger_reader._lz4(b"\x00" * 32)
    with pytest.raises(cramjam.DecompressionError):
        ledger_reader._lz4(_lz4_frame(CHUNKS)[:-40] + b"\x00" * 40)
