"""Block Kit as HTML, laid out roughly as Slack does, for a headless browser to draw.

Covers what stackbot sends: ``header``, ``section`` (text, fields, accessory),
``context``, ``actions`` (buttons), ``divider``; mrkdwn's bold, italic, strike,
code, mentions, links and the emoji codes the renderer uses; a button's
confirmation as Slack's dialog. Sizes follow Slack's desktop client (15 px Lato
for text, 13 px for context, 36 px avatars); the fonts here are DejaVu, a little
wider, so measurements err on the long side.

A script at the end of each page writes the layout into ``document.title`` as
JSON (``--dump-dom`` prints it): the page height, and the top and bottom of each
block and button (``data-block-id``, ``data-action-id``), in CSS pixels.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Page", "confirm_html", "mrkdwn_html", "page_html"]

EMOJI = {
    ":red_circle:": "🔴",
    ":large_orange_circle:": "🟠",
    ":large_blue_circle:": "🔵",
    ":white_check_mark:": "✅",
    ":warning:": "⚠️",
    ":thread:": "🧵",
    ":x:": "❌",
    ":heavy_check_mark:": "✔️",
    ":hourglass_flowing_sand:": "⏳",
    ":memo:": "📝",
    ":no_entry:": "⛔",
}

CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #fff; color: #1d1c1d;
       font: 15px/1.46668 Lato, 'DejaVu Sans', 'Noto Color Emoji', sans-serif; }
.msg { display: flex; padding: 8px 20px 8px 16px; }
.avatar { flex: 0 0 36px; height: 36px; border-radius: 6px; background: #4a154b;
          color: #fff; font-weight: 700; text-align: center; line-height: 36px; margin-right: 8px; }
.body { flex: 1 1 auto; min-width: 0; }
.who b { font-weight: 900; }
.who .app { font-size: 10px; background: #e8e8e8; color: #616061; padding: 1px 3px;
            border-radius: 2px; margin: 0 4px; }
.who .time { color: #616061; font-size: 12px; }
.block { margin: 4px 0; overflow-wrap: anywhere; }
.header { font-size: 18px; font-weight: 900; line-height: 1.33; margin: 8px 0 4px; }
.fields { display: grid; grid-template-columns: 1fr 1fr; gap: 8px 16px; margin-top: 8px; }
.section { display: flex; gap: 8px; } .section .main { flex: 1 1 auto; min-width: 0; }
.context { color: #616061; font-size: 13px; line-height: 1.38; }
.context .el { display: inline; margin-right: 8px; }
.actions { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0; }
.button { display: inline-block; height: 28px; padding: 0 12px; border-radius: 4px;
          font-size: 13px; font-weight: 700; line-height: 26px; border: 1px solid #c8c8c8;
          background: #fff; color: #1d1c1d; white-space: nowrap; max-width: 100%;
          overflow: hidden; text-overflow: ellipsis; }
.button.primary { background: #007a5a; border-color: #007a5a; color: #fff; }
.button.danger { background: #fff; border-color: #c8c8c8; color: #e01e5a; }
hr { border: 0; border-top: 1px solid #e8e8e8; margin: 12px 0; }
code { font: 12px Monaco, 'DejaVu Sans Mono', monospace; color: #e01e5a; background: #f8f8f8;
       border: 1px solid #e8e8e8; border-radius: 3px; padding: 1px 3px; }
.mention { color: #1264a3; background: #e8f5fa; border-radius: 3px; padding: 0 2px; }
a { color: #1264a3; text-decoration: none; }
.thread { border-top: 1px solid #e8e8e8; margin-top: 8px; }
.thread-title { font-weight: 900; padding: 12px 16px 0; }
.screen { overflow: hidden; }
.dialog-bg { background: rgba(0,0,0,.5); padding: 40px 16px 60px; }
.dialog { background: #fff; border-radius: 8px; max-width: 520px; margin: 0 auto;
          padding: 20px 28px; box-shadow: 0 18px 48px rgba(0,0,0,.35); }
.dialog h1 { font-size: 22px; font-weight: 900; margin: 0 0 16px; }
.dialog .buttons { display: flex; justify-content: flex-end; gap: 8px; margin-top: 24px; }
.dialog .button { height: 36px; line-height: 34px; font-size: 15px; padding: 0 16px; }
.dialog .button.danger { background: #e01e5a; border-color: #e01e5a; color: #fff; }
"""

MEASURE = """
<script>
(function () {
  const box = (el) => { const r = el.getBoundingClientRect();
    return {top: Math.round(r.top + scrollY), bottom: Math.round(r.bottom + scrollY),
            width: Math.round(r.width), scroll: el.scrollWidth > el.clientWidth + 1}; };
  const out = {height: document.documentElement.scrollHeight, width: innerWidth,
               blocks: {}, buttons: {}, messages: []};
  document.querySelectorAll('[data-block-id]').forEach(
    el => out.blocks[el.dataset.blockId] = box(el));
  document.querySelectorAll('[data-action-id]').forEach(el => {
    const b = box(el); b.text = el.textContent; out.buttons[el.dataset.actionId] = b; });
  document.querySelectorAll('.msg').forEach(el => out.messages.push(box(el)));
  document.title = JSON.stringify(out);
})();
</script>
"""


def _emoji(text: str) -> str:
    return re.sub(r":[a-z_]+:", lambda m: EMOJI.get(m.group(0), m.group(0)), text)


def mrkdwn_html(text: str, users: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn (already escaped for Slack: ``&amp; &lt; &gt;``) as HTML."""
    users = users or {}
    codes: list[str] = []

    def keep(match: re.Match[str]) -> str:
        codes.append(f"<code>{match.group(1)}</code>")
        return f"\x00{len(codes) - 1}\x00"

    out = re.sub(r"`([^`\n]+)`", keep, text)
    specials: list[str] = []

    def special(match: re.Match[str]) -> str:
        inner = match.group(1)
        if inner.startswith("@"):
            shown = "@" + users.get(inner[1:], inner[1:])
            specials.append(f'<span class="mention">{html.escape(shown)}</span>')
        elif inner.startswith("#"):
            specials.append(f'<span class="mention">#{html.escape(inner[1:])}</span>')
        elif inner.startswith("!"):
            specials.append(f'<span class="mention">@{html.escape(inner[1:])}</span>')
        else:
            url, _, label = inner.partition("|")
            specials.append(f'<a href="{html.escape(url)}">{html.escape(label or url)}</a>')
        return f"\x01{len(specials) - 1}\x01"

    out = re.sub(r"<([^<>]+)>", special, out)
    out = out.replace("<", "&lt;").replace(">", "&gt;")
    out = re.sub(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])", r"<b>\1</b>", out)
    out = re.sub(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])", r"<i>\1</i>", out)
    out = re.sub(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])", r"<s>\1</s>", out)
    out = re.sub(r"\x01(\d+)\x01", lambda m: specials[int(m.group(1))], out)
    out = re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], out)
    return _emoji(out).replace("\n", "<br>")


def _plain(obj: Mapping[str, Any]) -> str:
    return _emoji(str(obj.get("text", "")).replace("<", "&lt;").replace(">", "&gt;"))


def _text(obj: Mapping[str, Any], users: Mapping[str, str]) -> str:
    if obj.get("type") == "mrkdwn":
        return mrkdwn_html(str(obj.get("text", "")), users)
    return _plain(obj)


def _button(element: Mapping[str, Any]) -> str:
    style = element.get("style", "")
    action = html.escape(str(element.get("action_id", "")))
    return (
        f'<span class="button {style}" data-action-id="{action}">'
        f"{_plain(element.get('text', {}))}</span>"
    )


def _block(block: Mapping[str, Any], users: Mapping[str, str]) -> str:
    kind = block.get("type")
    block_id = html.escape(str(block.get("block_id", "")))
    attrs = f' data-block-id="{block_id}"' if block_id else ""
    if kind == "header":
        return f'<div class="block header"{attrs}>{_plain(block["text"])}</div>'
    if kind == "divider":
        return f"<hr{attrs}>"
    if kind == "context":
        elements = "".join(
            f'<span class="el">{_text(e, users)}</span>' for e in block.get("elements", [])
        )
        return f'<div class="block context"{attrs}>{elements}</div>'
    if kind == "actions":
        buttons = "".join(_button(e) for e in block.get("elements", []))
        return f'<div class="block actions"{attrs}>{buttons}</div>'
    if kind == "section":
        main = _text(block["text"], users) if "text" in block else ""
        fields = "".join(f"<div>{_text(f, users)}</div>" for f in block.get("fields", []))
        if fields:
            main += f'<div class="fields">{fields}</div>'
        accessory = block.get("accessory")
        side = _button(accessory) if accessory and accessory.get("type") == "button" else ""
        return f'<div class="block section"{attrs}><div class="main">{main}</div>{side}</div>'
    return f'<div class="block"{attrs}>[{html.escape(str(kind))}]</div>'


class Page:
    """Messages drawn one after the other, as a channel (and a thread) shows them."""

    def __init__(self, users: Mapping[str, str] | None = None) -> None:
        self.users = dict(users or {})
        self.parts: list[str] = []

    def message(self, blocks: Sequence[Mapping[str, Any]], *, time: str = "12:00") -> Page:
        inner = "".join(_block(b, self.users) for b in blocks)
        self.parts.append(
            '<div class="msg"><div class="avatar">sb</div><div class="body">'
            f'<div class="who"><b>stackbot</b><span class="app">APP</span>'
            f'<span class="time">{time}</span></div>{inner}</div></div>'
        )
        return self

    def thread_title(self, text: str) -> Page:
        title = html.escape(text)
        self.parts.append(f'<div class="thread"><div class="thread-title">{title}</div></div>')
        return self

    def html(self, width: int, title: str = "stackbot") -> str:
        return page_html("".join(self.parts), width, title)


def page_html(body: str, width: int, title: str = "stackbot") -> str:
    """A page whose content is ``width`` CSS pixels wide, whatever the window's width
    (headless Chromium lays out no narrower than 500 px)."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body>"
        f'<div class="screen" data-block-id="screen" style="width: {width}px">{body}</div>'
        f"{MEASURE}</body></html>"
    )


def confirm_html(confirm: Mapping[str, Any], width: int) -> str:
    """A button's ``confirm`` object as Slack's dialog."""
    style = confirm.get("style", "primary")
    return page_html(
        '<div class="dialog-bg"><div class="dialog" data-block-id="dialog">'
        f'<h1 data-block-id="dialog-title">{_plain(confirm["title"])}</h1>'
        f'<div data-block-id="dialog-text">{_plain(confirm["text"])}</div>'
        '<div class="buttons">'
        f'<span class="button" data-action-id="deny">{_plain(confirm["deny"])}</span>'
        f'<span class="button {style}" data-action-id="confirm">{_plain(confirm["confirm"])}</span>'
        "</div></div></div>",
        width,
    )
