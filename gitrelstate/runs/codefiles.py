"""The code a stage reads without declaring it: the scripts its command names, and the
local Python modules they import.

"Code changed since the run" means: a file *this stage* can have read changed. The
files it can have read are its declared dependencies (hashed as dependencies) and the
files found here, recorded in the run record as ``code.files`` with their content ids.
A commit that edits README.md, or a script of another stage, changes none of them, so
it never makes this stage stale (docs/runs.md, "What counts as the stage's code").

Found statically, nothing is run: every word of the command (and of a ``sh -c`` script)
that names an existing code file inside the work tree; for each Python file among them,
the modules its ``import`` statements name that resolve to files next to it (or below
the working folder, for ``python -m``), recursively. Tracked data (anything with a
pointer, or inside a tracked folder), the stage's outputs and gitrelstate's own files
are never code.
"""

from __future__ import annotations

import ast
import os
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from gitrelstate.repo import STATE_DIR, Repo
from gitrelstate.state.pointer import SUFFIX

# A word of the command names code when it names a file with one of these suffixes, or
# an executable file (``./run.sh``, a script with a shebang).
CODE_SUFFIXES = frozenset(
    [
        ".py",
        ".pyw",
        ".ipynb",
        ".sh",
        ".bash",
        ".zsh",
        ".r",
        ".jl",
        ".pl",
        ".rb",
        ".js",
        ".mjs",
        ".ts",
        ".lua",
        ".sql",
        ".awk",
        ".sed",
        ".jq",
        ".m",
        ".scala",
        ".kts",
        ".groovy",
        ".ps1",
        ".mk",
        ".cfg",
        ".ini",
        ".toml",
        ".yaml",
        ".yml",
    ]
)
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})
MAX_FILES = 200  # an import graph larger than this is cut (the scan stays cheap)
MAX_SOURCE_BYTES = 2 * 1024 * 1024


def code_files(
    repo: Repo, command: Sequence[str], wdir: str, exclude: Iterable[str] = ()
) -> list[str]:
    """Repo-relative paths of the code the command reads (sorted); ``exclude``: paths
    that are something else (declared dependencies and outputs)."""
    skip = set(exclude)
    base = repo.abspath(wdir)
    found: dict[str, None] = {}
    words = list(_words(command))
    for i, word in enumerate(words):
        if i > 0 and words[i - 1] == "-m":
            for rel in _module_files(repo, word, [base]):
                found.setdefault(rel)
            continue
        named = _code_file(repo, base, word)
        if named is not None:
            found.setdefault(named)
    todo = [rel for rel in found if rel.endswith(".py")]
    modules = [(rel, base) for rel in todo]  # (file, the folder ``python -m`` searches)
    seen = set(todo)
    while modules and len(found) < MAX_FILES:
        rel, root = modules.pop()
        for dep in _imports_of(repo, rel, root):
            if dep not in found:
                found.setdefault(dep)
            if dep not in seen:
                seen.add(dep)
                modules.append((dep, root))
    return sorted(p for p in found if p not in skip and not _is_data(repo, p))


def _words(command: Sequence[str]) -> Iterable[str]:
    """The command's words, and those of a shell script it passes to ``sh -c``."""
    for i, arg in enumerate(command):
        yield arg
        if (
            i >= 1
            and command[i - 1] == "-c"
            and i >= 2
            and os.path.basename(command[i - 2]) in SHELLS
        ):
            try:
                yield from shlex.split(arg, comments=True)
            except ValueError:
                yield from arg.split()


def _inside(repo: Repo, path: Path) -> str | None:
    """``path`` as a repo-relative path when it is a regular file inside the work tree
    (symlinks resolved), outside git's and gitrelstate's folders; else None."""
    try:
        real = Path(os.path.realpath(path))
        rel = real.relative_to(repo.root).as_posix()
    except (ValueError, OSError):
        return None
    first = rel.split("/", 1)[0]
    if first in (".git", STATE_DIR) or rel.endswith(SUFFIX) or not real.is_file():
        return None
    return rel


def _code_file(repo: Repo, base: Path, word: str) -> str | None:
    if not word or word.startswith("-") or "\0" in word or len(word) > 4096:
        return None
    if "=" in word and not os.path.exists(os.path.join(base, word)):
        word = word.partition("=")[2]  # --config=conf.py
        if not word:
            return None
    path = Path(word) if os.path.isabs(word) else base / word
    rel = _inside(repo, path)
    if rel is None:
        return None
    if Path(rel).suffix.lower() in CODE_SUFFIXES or os.access(repo.root / rel, os.X_OK):
        return rel
    return None


def _is_data(repo: Repo, rel: str) -> bool:
    """Tracked data: the path or a folder above it has a pointer."""
    parts = rel.split("/")
    return any(
        os.path.exists(repo.root / ("/".join(parts[:n]) + SUFFIX)) for n in range(1, len(parts) + 1)
    )


def _imports_of(repo: Repo, rel: str, root: Path) -> list[str]:
    """Local modules ``rel`` imports: next to it (how ``python script.py`` finds them),
    or below ``root`` (the working folder, for ``python -m``)."""
    path = repo.root / rel
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return []
        tree = ast.parse(path.read_bytes(), filename=rel)
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    here = path.parent
    roots = [here] if here == root else [here, root]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found += _module_files(repo, alias.name, roots)
        elif isinstance(node, ast.ImportFrom):
            level = node.level or 0
            start = [_up(here, level - 1)] if level else roots
            name = node.module or ""
            found += _module_files(repo, name, start)
            for alias in node.names:  # from pkg import module
                if alias.name != "*":
                    sub = f"{name}.{alias.name}" if name else alias.name
                    found += _module_files(repo, sub, start)
    return found


def _up(folder: Path, levels: int) -> Path:
    for _ in range(max(levels, 0)):
        folder = folder.parent
    return folder


def _module_files(repo: Repo, dotted: str, roots: Sequence[Path]) -> list[str]:
    """The file(s) of module ``dotted`` under the first root holding it: each package's
    ``__init__.py`` on the way, and the module itself."""
    parts = [p for p in dotted.split(".") if p]
    for root in roots:
        files: list[str] = []
        folder = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            module = _inside(repo, folder / f"{part}.py") if last else None
            package = folder / part
            init = _inside(repo, package / "__init__.py")
            if module is not None:
                files.append(module)
                break
            if init is None and not (last and package.is_dir()):
                files = []
                break
            if init is not None:
                files.append(init)
            folder = package
        if files:
            return files
        if not parts:  # "from . import x": the package itself
            init = _inside(repo, root / "__init__.py")
            return [init] if init else []
    return []
