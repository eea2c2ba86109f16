"""Which usage partition an organization's events go to: the one routing function every path shares.

partition = CRC-32 (IEEE 802.3, as zlib and most standard libraries compute it) of the
organization id's UTF-8 bytes, modulo the deployment's partition count. Each partition is its own
queue, `<prefix>usage.<partition>`, consumed by one worker at a time, so every organization's
debits are committed by one process at a time. A producer in another language implements the same
two lines; docs/events.md pins test vectors.
"""

from __future__ import annotations

import zlib

DEFAULT_PARTITIONS = 8
USAGE_QUEUE = "usage"


def partition_of(organization_id: str, partitions: int) -> int:
    """The partition (0 ≤ p < partitions) of an organization's usage events."""
    if partitions < 1:
        raise ValueError("partitions: must be at least 1")
    return zlib.crc32(organization_id.encode("utf-8")) % partitions


def usage_queue(partition: int) -> str:
    """The queue of one partition, without the deployment's queue prefix."""
    return f"{USAGE_QUEUE}.{partition}"


def usage_queue_of(organization_id: str, partitions: int) -> str:
    return usage_queue(partition_of(organization_id, partitions))
