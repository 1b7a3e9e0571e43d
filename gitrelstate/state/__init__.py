"""The state-file model: canonical YAML, schema validation and format versions.

Nothing in this package knows about the CLI, git or storage.
"""

from __future__ import annotations

FORMAT_VERSION = 1
