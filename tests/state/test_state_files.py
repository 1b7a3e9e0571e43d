from __future__ import annotations

from pathlib import Path

import pytest

from gitrelstate.errors import StateFileError, UnsafePathError
from gitrelstate.state import yamlio
from gitrelstate.state.manifest import Entry, Manifest
from gitrelstate.state.paths import check_relpath
from gitrelstate.state.pointer import DataPointer

HEX = "a" * 64


def test_pointer_round_trip_is_canonical() -> None:
    p = DataPointer("data", f"blake3:{HEX}", 10, nfiles=2)
    text = yamlio.dumps(p.to_dict())
    assert text.splitlines()[:2] == ["relstate: 1", "kind: data"]
    again = DataPointer.from_dict(yamlio.loads(text, "x"), "x")
    assert again == p
    assert yamlio.dumps(again.to_dict()) == text


def test_unknown_keys_are_preserved_after_known_ones() -> None:
    doc = {
        "zeta": {"a": 1},
        "relstate": 1,
        "size": 3,
        "kind": "data",
        "path": "f",
        "hash": f"blake3:{HEX}",
        "note": "keep me",
    }
    p = DataPointer.from_dict(doc, "f.relstate.yaml")
    assert list(p.to_dict()) == ["relstate", "kind", "path", "hash", "size", "zeta", "note"]
    assert p.to_dict()["zeta"] == {"a": 1}


def test_newer_format_version_is_refused_with_upgrade_hint() -> None:
    doc = {"relstate": 2, "kind": "data", "path": "f", "hash": f"blake3:{HEX}", "size": 1}
    with pytest.raises(StateFileError) as err:
        DataPointer.from_dict(doc, "f.relstate.yaml")
    assert "f.relstate.yaml" in err.value.message and "version 2" in err.value.message
    assert err.value.hint and "upgrade" in err.value.hint


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"kind": "data"}, "'relstate'"),
        ({"relstate": 1, "kind": "run"}, "'kind'"),
        ({"relstate": 1, "kind": "data", "hash": f"blake3:{HEX}", "size": 1}, "'path'"),
        ({"relstate": 1, "kind": "data", "path": "f", "hash": "md5:00", "size": 1}, "'hash'"),
        (
            {"relstate": 1, "kind": "data", "path": "f", "hash": f"blake3:{HEX}", "size": "1"},
            "'size'",
        ),
        (
            {"relstate": 1, "kind": "data", "path": "f", "hash": f"blake3:{HEX}", "size": True},
            "'size'",
        ),
        (
            {"relstate": 1, "kind": "data", "path": "f", "hash": f"blake3:{HEX}", "size": -1},
            "'size'",
        ),
        ({"relstate": "1", "kind": "data"}, "'relstate'"),
        (["not", "a", "mapping"], "mapping"),
    ],
)
def test_schema_errors_name_file_and_key(doc: object, needle: str) -> None:
    with pytest.raises(StateFileError) as err:
        DataPointer.from_dict(doc, "some/file.relstate.yaml")
    assert "some/file.relstate.yaml" in err.value.message
    assert needle in err.value.message


@pytest.mark.parametrize(
    "path",
    [
        "../x",
        "a/../../x",
        "/etc/passwd",
        "C:/x",
        "a\\b",
        "a\x00b",
        "",
        ".",
        "a//b",
        "a/./b",
        "a/",
        "x" * 300,
    ],
)
def test_escaping_paths_are_refused(path: str) -> None:
    with pytest.raises(UnsafePathError):
        check_relpath(path, "f")


def test_yaml_aliases_and_deep_nesting_are_refused() -> None:
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    with pytest.raises(StateFileError, match="aliases"):
        yamlio.loads(bomb, "bomb.yaml")
    deep = "a: " + "[" * 200 + "]" * 200
    with pytest.raises(StateFileError, match="nesting"):
        yamlio.loads(deep, "deep.yaml")


def test_invalid_yaml_and_binary_files_give_state_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    with pytest.raises(StateFileError, match="not valid YAML"):
        yamlio.read(bad)
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(StateFileError, match="UTF-8"):
        yamlio.read(binary)


def test_manifest_is_canonical_and_round_trips() -> None:
    a = Manifest.build([("b/z.txt", Entry(HEX, 3, False)), ("a.txt", Entry("b" * 64, 1, True))])
    b = Manifest.build([("a.txt", Entry("b" * 64, 1, True)), ("b/z.txt", Entry(HEX, 3, False))])
    assert a.to_bytes() == b.to_bytes()
    again = Manifest.from_bytes(a.to_bytes(), "m")
    assert again == a and again.size == 4 and again.nfiles == 2


@pytest.mark.parametrize(
    "entries",
    [
        '[["../x","' + HEX + '",1,false]]',
        '[["/abs","' + HEX + '",1,false]]',
        '[["a","zz",1,false]]',
        '[["a","' + HEX + '",-1,false]]',
        '[["a","' + HEX + '",1,false],["a","' + HEX + '",1,false]]',
        '[["a","' + HEX + '",1,false],["a/b","' + HEX + '",1,false]]',
        '{"a": 1}',
    ],
)
def test_malformed_manifests_are_refused(entries: str) -> None:
    raw = ('{"relstate":1,"kind":"manifest","algo":"blake3","entries":' + entries + "}").encode()
    with pytest.raises((StateFileError, UnsafePathError)):
        Manifest.from_bytes(raw, "m")


def test_manifest_from_newer_version_is_refused() -> None:
    raw = b'{"relstate":9,"kind":"manifest","algo":"blake3","entries":[]}'
    with pytest.raises(StateFileError, match="newer"):
        Manifest.from_bytes(raw, "m")


@pytest.mark.parametrize(
    "name",
    ["data", "model.bin", "a_b-c.d", "x1", "v2.0.tar", "README", "_x"],
)
@pytest.mark.parametrize("nfiles", [None, 0, 12])
def test_fast_pointer_parser_agrees_with_yaml(name: str, nfiles: int | None) -> None:
    from gitrelstate.state.pointer import parse_canonical

    text = yamlio.dumps(DataPointer(name, f"blake3:{HEX}", 5, nfiles, nfiles is None).to_dict())
    fast = parse_canonical(text)
    assert fast is not None and fast == yamlio.loads(text, "x")


@pytest.mark.parametrize(
    "text",
    [
        "relstate: 1\nkind: data\npath: true\nhash: blake3:" + HEX + "\nsize: 1\n",
        "relstate: 1\nkind: data\npath: 1e5\nhash: blake3:" + HEX + "\nsize: 1\n",
        "relstate: 1\nkind: data\npath: 0x10\nhash: blake3:" + HEX + "\nsize: 1\n",
        "relstate: 1\nkind: data\npath: .inf\nhash: blake3:" + HEX + "\nsize: 1\n",
        "relstate: 1\nkind: data\npath: a\npath: b\nhash: blake3:" + HEX + "\nsize: 1\n",
        "relstate: 1\nkind: data\npath: 'a'\nhash: blake3:" + HEX + "\nsize: 1\n",
        "relstate: 1\nkind: data\npath: a\nhash: blake3:" + HEX + "\nsize: 012\n",
        "relstate: 1\nkind: data\npath: a\nhash: blake3:" + HEX + "\nsize: 1\nowner: me\n",
        "relstate: 1\nkind: data\npath: a\nhash: blake3:" + HEX + "\nsize: 1",
    ],
)
def test_fast_pointer_parser_defers_anything_unusual(text: str) -> None:
    from gitrelstate.state.pointer import parse_canonical

    assert parse_canonical(text) is None
