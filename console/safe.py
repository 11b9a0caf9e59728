"""The one way untrusted text reaches the screen: ``safe(value)`` -> an inert ``rich.text.Text``.

Emails, usernames, display names, user agents, token claims, reasons and actors come from users or
attackers. A plain ``str`` handed to a DataTable cell, ``Label``, ``Static`` or ``notify`` is parsed
as markup (``[@click=app.quit]`` would become a live action), so console code never does that with
data. ``safe`` first strips every terminal-active character with ``authcore.text.clean`` (ESC, OSC,
C1, bidi overrides, zero-width...), then wraps the result in a ``Text``, which is never parsed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text

from authcore.text import clean

if TYPE_CHECKING:  # pragma: no cover
    from textual.app import App
    from textual.notifications import SeverityLevel

DEFAULT_MAX = 200


def safe(
    value: object, max_len: int | None = DEFAULT_MAX, style: str | Style = "", *, wrap: bool = False
) -> Text:
    """``value`` as inert text: cleaned, cut to ``max_len``, never markup; one line unless
    ``wrap`` (then it folds to the widget's width)."""
    return Text(
        clean(value, max_len=max_len),
        style=style,
        no_wrap=not wrap,
        overflow="fold" if wrap else "ellipsis",
        end="",
    )


def safe_join(*parts: Text | tuple[object, str] | object, sep: str = "") -> Text:
    """Concatenate pieces into one Text: ``Text`` as is, ``(value, style)`` or plain values safe()d."""
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    for i, part in enumerate(parts):
        if i and sep:
            out.append(sep)
        if isinstance(part, Text):
            out.append_text(part)
        elif isinstance(part, tuple) and len(part) == 2:
            out.append_text(safe(part[0], style=part[1]))
        else:
            out.append_text(safe(part))
    return out


def safe_lines(lines: Iterable[Text], *, wrap: bool = False) -> Text:
    """Join already safe Text lines; each stays one line (cut with …) unless ``wrap``."""
    sep = Text("\n", no_wrap=not wrap, overflow="fold" if wrap else "ellipsis", end="")
    return sep.join(list(lines))


def notify_safe(
    app: App[Any],
    *parts: object,
    severity: SeverityLevel = "information",
    title: str = "",
    timeout: float | None = None,
) -> None:
    """``app.notify`` with every part cleaned and markup off: the message shows literally."""
    message = "".join(p.plain if isinstance(p, Text) else clean(p, max_len=400) for p in parts)
    app.notify(message, title=clean(title, max_len=80), severity=severity, timeout=timeout, markup=False)
