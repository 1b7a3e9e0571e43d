"""Release states in standard formats: in-toto/SLSA provenance, a CycloneDX ML-BOM,
OpenLineage run events and a Markdown model card (docs/provenance.md).

Each format is one module with one ``render(state, ...) -> str``; what they share (the
state as exporters see it, redacted once; digests from the cache; purls) is in ``source``,
``digests`` and ``common``. The format libraries are imported inside the renderers only, so no other
command pays for them.
"""

from __future__ import annotations

from typing import Final

#: ``--format`` values, in the order ``--help`` lists them.
FORMATS: Final = ("slsa", "cyclonedx", "openlineage", "model-card")
