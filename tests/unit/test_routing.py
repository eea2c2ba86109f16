"""The routing function every usage path shares: CRC-32 of the organization id modulo the
partition count. These vectors are the wire contract (docs/events.md): a producer in
another language must compute the same partitions."""

from __future__ import annotations

import zlib

import pytest

from producers.routing import partition_of, usage_queue, usage_queue_of

VECTORS = [
    # organization id, partitions, partition
    ("acme", 8, 6),
    ("acme", 16, 14),
    ("org-0", 8, 0),
    ("org-1", 8, 6),
    ("demo-org", 8, 3),
    ("Ünïcode-org", 8, 0),
    ("Ünïcode-org", 16, 8),
    ("acme", 1, 0),
]


@pytest.mark.parametrize(("organization", "partitions", "expected"), VECTORS)
def test_the_pinned_vectors_hold(organization, partitions, expected):
    assert partition_of(organization, partitions) == expected


def test_the_partition_is_the_crc32_of_the_utf8_bytes_modulo_the_count():
    for i in range(2000):
        org = f"tenant-{i}"
        assert partition_of(org, 8) == zlib.crc32(org.encode("utf-8")) % 8


def test_every_partition_gets_a_fair_share_of_many_organizations():
    counts = [0] * 8
    for i in range(8000):
        counts[partition_of(f"org-{i}", 8)] += 1
    assert min(counts) > 900 and max(counts) < 1100, counts


def test_queue_names_carry_the_partition():
    assert usage_queue(3) == "usage.3"
    assert usage_queue_of("acme", 8) == "usage.6"


def test_a_partition_count_below_one_is_refused():
    with pytest.raises(ValueError, match="partitions"):
        partition_of("acme", 0)
