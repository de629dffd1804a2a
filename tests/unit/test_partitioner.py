"""Kafka's default partitioner, checked against the Java client's published test vectors."""
from streams.partitioner import murmur2, partition_of


def test_murmur2_matches_the_java_client():
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2 (as signed ints there)
    cases = {"21": -973932308, "foobar": -790332482, "a-little-bit-long-string": -985981536,
             "a-little-bit-longer-string": -1486304829, "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
             "abc": 479470107}
    for text, signed in cases.items():
        assert murmur2(text.encode()) == signed & 0xFFFFFFFF, text


def test_partition_is_stable_and_in_range():
    assert {partition_of("914403001922038216", 4) for _ in range(3)} == {partition_of("914403001922038216", 4)}
    assert all(0 <= partition_of(f"s{i}", 4) < 4 for i in range(100))
