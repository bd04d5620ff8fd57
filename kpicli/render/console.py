"""The one way the renderers make a rich Console: text captured, color only when asked."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

DEFAULT_WIDTH = 100


def text_console(color: bool, width: int | None) -> Console:
    """A Console writing to a string buffer; no markup or highlighting of data."""
    from rich.console import Console

    return Console(
        file=io.StringIO(),
        force_terminal=color,
        no_color=not color,
        color_system="truecolor" if color else None,
        width=width or DEFAULT_WIDTH,
        legacy_windows=False,
        highlight=False,
        emoji=False,
        markup=False,
        soft_wrap=False,
    )
