"""Known export formats, as data: header aliases, summary-row patterns, dialect quirks.

Presets arrive with a later issue; the table is empty until then, so `preset:` is a
configuration error naming the (empty) list of known presets.
"""

from __future__ import annotations

PRESETS: dict[str, dict] = {}
