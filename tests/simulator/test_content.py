"""The simulator's result files: a small Shoptet snapshot is exactly what the whole set of rows
makes at that size (it stops making rows once it has enough, and must not change a byte)."""

from __future__ import annotations

import pytest

from jobdock.simulator.content import UNIQUE_ROWS, fill, shoptet_file


@pytest.mark.parametrize("endpoint", ["/api/products/snapshot", "/api/orders/snapshot"])
def test_a_small_shoptet_file_is_the_whole_rows_cut_to_size(endpoint: str) -> None:
    whole = shoptet_file(endpoint, size=10**7, seed="3ax1844")
    rows = whole.split(b"\n")[:UNIQUE_ROWS]
    block = len(b"\n".join(rows))
    sizes = [0, 1, 2, 100, 128, 129, 256, 4096, *range(block - 3, block + 4), 2 * block + 7]
    for size in sizes:
        made = shoptet_file(endpoint, size=size, seed="3ax1844")
        assert len(made) == size
        assert made == fill(head=b"", rows=rows, sep=b"\n", tail=b"\n", size=size), size
