"""The token inspector: paste a token, it is decoded live (``authcore.inspect``) into panels:
verdict, header, claims with humanized times, signature, warnings, live state. ``ctrl+o`` opens
the user the token names. Every value in a report is untrusted and goes through ``safe``."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Label, Static, TextArea

from authcore.text import clean, has_unsafe
from console.messages import TokenInspected
from console.safe import safe
from console.screens.base import ConsoleScreen, PaletteCommand
from console.workers import cancelled

STATUS_STYLE = {
    "valid": "bold reverse green",
    "expired": "bold reverse yellow",
    "not_yet_valid": "bold reverse yellow",
    "unverified": "bold reverse yellow",
}
PANELS = ("verdict", "header", "claims", "signature", "warnings", "live")


def load_inspector() -> Callable[..., Any] | None:
    """``authcore.inspect.inspect_token`` if this installation has it."""
    try:
        from authcore.inspect import inspect_token
    except ImportError:
        return None
    return inspect_token


def show(value: Any, max_len: int = 300) -> Text:
    """A JSON value as inert text; escapes stay visible when the value holds control chars."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if has_unsafe(text):
        text = json.dumps(value, ensure_ascii=True, default=str)
    return safe(text, max_len=max_len, wrap=True)


def kv(rows: list[tuple[str, Any]], width: int = 14) -> Text:
    lines = []
    for key, value in rows:
        line = safe(key.ljust(width), max_len=40, style="bold")
        line.append(" ")
        line.append_text(value if isinstance(value, Text) else show(value))
        lines.append(line)
    return Text("\n").join(lines) if lines else Text("(none)", style="dim")


def user_ref(report: dict[str, Any]) -> tuple[int | None, str]:
    """The user the token names: the live one if looked up, else an unverified numeric sub."""
    user = report.get("user") or {}
    if isinstance(user.get("id"), int) and user.get("exists"):
        return user["id"], ""
    sub = (report.get("payload") or {}).get("sub")
    if isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) < 19:
        return int(sub), " (unverified sub)"
    return None, ""


def render_panels(report: dict[str, Any]) -> dict[str, Text]:
    """Panel contents for an ``InspectionReport.to_dict()``."""
    status = str(report.get("status", "?"))
    verdict = Text.assemble(
        (f" {status.upper().replace('_', ' ')} ", STATUS_STYLE.get(status, "bold reverse red")), " "
    )
    verdict.append_text(safe(report.get("reason"), max_len=600, wrap=True))
    if report.get("consequence"):
        verdict.append("\n")
        verdict.append_text(safe(report["consequence"], max_len=400, wrap=True, style="bold"))
    uid, how = user_ref(report)
    if uid is not None:
        verdict.append(f"\nuser #{uid}{how}: ctrl+o opens it", style="dim")

    header = kv(list((report.get("header") or {}).items()))

    times = report.get("times") or {}
    claim_rows: list[tuple[str, Any]] = []
    payload = report.get("payload")
    if isinstance(payload, dict):
        for name, value in payload.items():
            t = times.get(name)
            if isinstance(t, dict) and (t.get("iso") or t.get("note")):
                cell = show(value)
                cell.append("  ")
                cell.append_text(safe(t.get("iso") or "", style="bold"))
                if t.get("relative"):
                    cell.append_text(safe(f" ({t['relative']})"))
                if t.get("note"):
                    cell.append_text(safe(f"  ⚠ {t['note']}", style="yellow"))
                claim_rows.append((name, cell))
            else:
                claim_rows.append((name, value))
    elif report.get("payload_text") is not None:
        claim_rows.append((str(report.get("payload_type") or "payload"), report.get("payload_text")))
    for name, check in (report.get("claims") or {}).items():
        if isinstance(check, dict) and "ok" in check:
            ok = check.get("ok")
            cell = Text("✓ " if ok else "✗ ", style="bold green" if ok else "bold red")
            cell.append_text(safe(check.get("detail") or "", max_len=300, wrap=True))
            claim_rows.append((f"check {name}", cell))
        else:
            claim_rows.append((f"check {name}", check))
    claims = kv(claim_rows)

    sig = report.get("signature") or {}
    verified = sig.get("verified")
    mark = (
        Text("✓ verified", style="bold green")
        if verified is True
        else Text("✗ refused", style="bold red")
        if verified is False
        else Text("not checked", style="bold yellow")
    )
    signature = kv(
        [
            ("status", mark),
            ("detail", sig.get("detail") or ""),
            ("header alg", sig.get("header_alg")),
            ("kid", sig.get("kid")),
            ("key", sig.get("key")),
            ("pinned alg", sig.get("alg")),
            ("tried", ", ".join(sig.get("tried") or []) or "-"),
        ]
    )

    notes = [safe(f"⚠ {w}", max_len=400, wrap=True, style="yellow") for w in report.get("warnings") or []]
    notes += [safe(f"· {n}", max_len=400, wrap=True, style="dim") for n in report.get("notes") or []]
    warnings = Text("\n").join(notes) if notes else Text("no warnings", style="green")

    live = report.get("live") or {}
    live_rows: list[tuple[str, Any]] = [("state", live.get("state")), ("detail", live.get("detail"))]
    user = report.get("user") or {}
    for key in (
        "id",
        "email",
        "exists",
        "disabled",
        "token_version",
        "token_version_claim",
        "sid",
        "session_exists",
        "session_expires_at",
        "problems",
        "consequence",
    ):
        if key in user and user[key] not in (None, []):
            live_rows.append((key, user[key]))
    return {
        "verdict": verdict,
        "header": header,
        "claims": claims,
        "signature": signature,
        "warnings": warnings,
        "live": kv(live_rows, width=19),
    }


class TokenScreen(ConsoleScreen):
    TITLE = "Token inspector"
    KIND = "token"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+o", "open_user", "Open user"),
        Binding("ctrl+l", "clear", "Clear"),
        Binding("tab", "app.focus_next", "Next pane", show=False),
    ]

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self._initial = text
        self._report: dict[str, Any] | None = None
        self._inspector = load_inspector()

    def compose_body(self) -> ComposeResult:
        yield Label(
            Text(
                "Paste a token (JWT/JWS). It is decoded as you type; nothing is sent anywhere.", style="dim"
            ),
            id="token-hint",
        )
        area = TextArea(self._initial, id="paste", soft_wrap=True, show_line_numbers=False)
        area.cursor_blink = False
        yield area
        with VerticalScroll(id="report"):
            for name in PANELS:
                panel = Static(id=f"panel-{name}", classes="panel", markup=False)
                panel.border_title = name.replace("live", "live state")
                yield panel

    def on_mount(self) -> None:
        if self.gone:
            return
        self.query_one(TextArea).focus()
        self.query_one("#report").can_focus = True
        if self._inspector is None:
            self._paint_unavailable()
        else:
            self.reload()

    def results_widget(self) -> Widget:
        """``esc`` from the paste box: the report (``tab`` goes there too)."""
        return self.query_one("#report")

    def _paint_unavailable(self) -> None:
        self.query_one("#panel-verdict", Static).update(
            Text("inspector not available: this installation has no authcore.inspect", style="bold yellow")
        )
        for name in PANELS[1:]:
            self.query_one(f"#panel-{name}", Static).display = False

    @on(TextArea.Changed, "#paste")
    def _changed(self, event: TextArea.Changed) -> None:
        text = event.text_area.text
        if any(has_unsafe(line) for line in text.split("\n")):
            cleaned = "\n".join(clean(line, max_len=None) for line in text.split("\n"))
            event.text_area.load_text(cleaned)  # triggers Changed again with inert text
            self.capp.notify_safe(
                "removed terminal control characters from the pasted text", severity="warning"
            )
            return
        self.debounce(self.capp.search_debounce / 2, self.reload)

    def reload(self) -> None:
        if self._inspector is None:
            return
        text = self.query_one(TextArea).text
        if not text.strip():
            self._report = None
            self._paint(None)
            return
        self._inspect(text)

    @work(thread=True, exclusive=True, group="token", exit_on_error=False)
    def _inspect(self, text: str) -> None:
        assert self._inspector is not None  # the screen says so when it is not installed
        report = self.core.inspect(text, now=self.capp.clock())
        if not cancelled():
            self.post_message(TokenInspected(text, report.to_dict()))

    def on_token_inspected(self, message: TokenInspected) -> None:
        if message.text != self.query_one(TextArea).text:
            return
        self._report = message.report
        self._paint(message.report)

    def _paint(self, report: dict[str, Any] | None) -> None:
        if report is None:
            self.query_one("#panel-verdict", Static).update(Text("paste a token above", style="dim"))
            for name in PANELS[1:]:
                self.query_one(f"#panel-{name}", Static).update(Text("-", style="dim"))
            self.say("")
            self.refresh_bindings()
            return
        for name, content in render_panels(report).items():
            self.query_one(f"#panel-{name}", Static).update(content)
        fp = report.get("fingerprint") or ""
        self.say(
            safe(
                f"{report.get('kind')} · {report.get('size')} chars · sha256 {fp[:16]}…"
                if fp
                else f"{report.get('kind')}",
                style="dim",
            )
        )
        self.refresh_bindings()

    def allowed(self, action: str, parameters: tuple[object, ...]) -> bool:
        if action == "open_user":
            return self._report is not None and user_ref(self._report)[0] is not None
        return super().allowed(action, parameters)

    def action_open_user(self) -> None:
        if self._report is not None:
            uid, _how = user_ref(self._report)
            if uid is not None:
                self.capp.open_user(uid)

    def action_clear(self) -> None:
        self.query_one(TextArea).load_text("")
        self.query_one(TextArea).focus()

    def palette_commands(self) -> list[PaletteCommand]:
        return [
            PaletteCommand(self, "Open the user this token names", "open_user", (), "ctrl+o"),
            PaletteCommand(self, "Clear the pasted token", "clear", (), "ctrl+l"),
            *super().palette_commands(),
        ]

    def reopen(self, text: str | None = None) -> None:  # type: ignore[override]  # its own args (base.reopen)
        """Opened again: a new token if one is given, else the one pasted before."""
        if text is not None and text != self.query_one(TextArea).text:
            self.query_one(TextArea).load_text(text)

    def current_id(self) -> str | None:
        if self._report and self._report.get("fingerprint"):
            return str(self._report["fingerprint"])
        return None
