"""What every format shares: the pipeline order, repository URLs safe to publish, purls."""

from __future__ import annotations

import pytest
from packageurl import PackageURL

from gitrelstate.exports import common
from gitrelstate.exports.source import _pipeline_order
from gitrelstate.state.record import Artifact, RunRecord

T = "2026-01-01T00:00:00Z"


def _record(name: str, deps: list[str], outs: list[str]) -> RunRecord:
    def art(p: str) -> Artifact:
        return Artifact(p, "blake3:" + "0" * 64, 1)

    return RunRecord(
        name=name, command=("true",), wdir=".", code={}, deps=tuple(map(art, deps)),
        outs=tuple(map(art, outs)), params={}, metrics={}, environment={}, started=T,
        finished=T, duration=0.0, exit_status=0, host="h",
    )  # fmt: skip


def test_upstream_stages_first_even_within_one_second() -> None:
    """Recorded times have whole seconds: the order comes from the data flow."""
    a = _record("a-train", ["data/b.csv"], ["model.pkl"])
    b = _record("b-featurize", ["data/c.csv"], ["data/b.csv"])
    c = _record("c-prepare", ["raw"], ["data/c.csv"])
    other = _record("aa-unrelated", [], ["x"])
    order = [r.name for r in _pipeline_order((a, b, c, other))]
    assert order == ["aa-unrelated", "c-prepare", "b-featurize", "a-train"]


@pytest.mark.parametrize(
    ("url", "clean"),
    [
        ("https://user:pw@github.com/acme/churn.git", "https://github.com/acme/churn.git"),
        ("https://ghp_tokenAsUser@github.com/acme/x", "https://github.com/acme/x"),
        ("https://github.com/acme/x.git?token=abc#frag", "https://github.com/acme/x.git"),
        ("git@github.com:acme/churn.git", "ssh://git@github.com/acme/churn.git"),
        ("deploy@host.example:repo.git", "ssh://host.example/repo.git"),
        ("ssh://git@host.example:2222/a/b.git", "ssh://git@host.example:2222/a/b.git"),
        ("HTTPS://Host.Example/A", "https://host.example/A"),
        ("/srv/git/churn.git", None),
        ("file:///srv/git/churn.git", None),
        ("../churn", None),
        ("C:/repos/churn", None),
        ("https://[::1", None),
    ],
)
def test_repository_urls_are_published_without_credentials(url: str, clean: str | None) -> None:
    assert common.clean_url(url) == clean


@pytest.mark.parametrize(
    ("name", "version", "qualifiers"),
    [
        ("scikit-learn", "1.5.0", None),
        ("torch", "2.3.0+cu121", None),
        ("mylib", "0.3", {"vcs_url": "git+https://github.com/acme/mylib.git@0123abcd"}),
        ("nover", None, None),
    ],
)
def test_purls_read_back_with_the_purl_library(
    name: str, version: str | None, qualifiers: dict[str, str] | None
) -> None:
    purl = common.purl(name, version, qualifiers)
    parsed = PackageURL.from_string(purl)
    assert (parsed.type, parsed.name, parsed.version) == ("pypi", name, version)
    assert parsed.qualifiers == (qualifiers or {})
    assert PackageURL(
        type="pypi", name=name, version=version, qualifiers=qualifiers
    ).to_string() == (purl)


def test_packages_never_show_local_paths_or_credentials() -> None:
    env = {
        "packages": {
            "plain": "1.0",
            "vcs": {
                "version": "0.1",
                "url": "https://tok:SECRET@github.com/a/vcs.git",
                "vcs": "git",
                "commit": "c0ffee",
            },
            "local": {"version": "2.0", "url": "file:///home/alice/src/local", "editable": True},
        }
    }
    found = {p.name: p for p in common.packages(env)}
    assert found["plain"].purl == "pkg:pypi/plain@1.0"
    assert found["vcs"].vcs_url == "git+https://github.com/a/vcs.git@c0ffee"
    assert found["vcs"].commit == "c0ffee"
    assert found["local"].local and found["local"].editable
    assert "alice" not in repr(found) and "SECRET" not in repr(found)
