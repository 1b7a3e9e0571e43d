"""Listings written entry by entry equal Manifest.to_bytes (so content ids stay the
same), and two listings merged in step give what a full comparison gives."""

from __future__ import annotations

import io
import random

import pytest

from gitrelstate import hashing
from gitrelstate.state.manifest import Entry, ListingWriter, Manifest, changed_entries

NAMES = ["a", "a b", "a-b", "a.b", "a/b", 'q"x', "é/z", "b/c/d", "c", "c0", "~", "sp ace"]


def _random_manifest(rnd: random.Random) -> Manifest:
    entries = {}
    for name in NAMES:
        if rnd.random() < 0.7:
            hex_ = rnd.choice(["0" * 64, "1" * 64, "a" * 64])
            entries[name] = Entry(hex_, rnd.choice([0, 1, 2**40]), rnd.random() < 0.2)
    if "a" in entries and "a/b" in entries:
        del entries["a"]
    return Manifest(entries)


@pytest.mark.parametrize("seed", range(40))
def test_streamed_listing_is_the_canonical_one(seed: int) -> None:
    manifest = _random_manifest(random.Random(seed))
    out = io.BytesIO()
    writer = ListingWriter(out, hashing.hasher())
    items = sorted(manifest.entries.items())
    cut = len(items) // 2  # two calls, as two segments of a walk would make them
    for part in (items[:cut], items[cut:]):
        writer.add(
            [p for p, _ in part],
            [e.hex for _, e in part],
            [e.size for _, e in part],
            [e.executable for _, e in part],
        )
    hex_ = writer.finish()
    assert out.getvalue() == manifest.to_bytes()
    assert hex_ == hashing.hash_bytes(manifest.to_bytes())
    assert (writer.nfiles, writer.size) == (manifest.nfiles, manifest.size)


def test_entries_out_of_order_are_refused() -> None:
    writer = ListingWriter(io.BytesIO(), hashing.hasher())
    writer.add(["b"], ["0" * 64], [1], [False])
    with pytest.raises(ValueError, match="out of order"):
        writer.add(["a"], ["0" * 64], [1], [False])


@pytest.mark.parametrize("seed", range(200))
def test_merge_in_step_equals_full_comparison(seed: int) -> None:
    rnd = random.Random(seed)
    old, new = _random_manifest(rnd), _random_manifest(rnd)
    gone, came = changed_entries(old.to_bytes(), new.to_bytes(), "listing")
    assert gone == {k: e for k, e in old.entries.items() if new.entries.get(k) != e}
    assert came == {k: e for k, e in new.entries.items() if old.entries.get(k) != e}


def test_an_unsorted_listing_is_compared_in_full() -> None:
    a = Manifest({"x": Entry("0" * 64, 1, False), "y": Entry("1" * 64, 1, False)})
    raw = a.to_bytes()
    lines = raw.split(b"\n")
    lines[1], lines[2] = lines[2].rstrip(b",") + b",", lines[1].rstrip(b",")  # swapped
    swapped = b"\n".join(lines)
    b = Manifest({"x": Entry("2" * 64, 1, False), "y": Entry("1" * 64, 1, False)})
    gone, came = changed_entries(swapped, b.to_bytes(), "listing")
    assert set(gone) == {"x"} and set(came) == {"x"}
