"""A report's text as a code block: escaped, cut within Slack's limits without splitting an
entity, and then whole as a file for the thread."""

from __future__ import annotations

from bot.render.slack import MAX_TEXT, TEXT_LIMIT, text_message, validate_blocks

FENCE = "```"


def test_short_text_is_one_code_block_under_its_title() -> None:
    message = text_message("ps · prod", "web  running <up>\n```x```", "ps-prod.txt")
    assert message.text == "ps · prod"
    assert message.blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*ps · prod*"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{FENCE}web  running &lt;up&gt;\n` ` `x` ` `{FENCE}",
            },
        },
    ]
    assert message.files == [] and message.thread == []


def test_long_text_is_cut_after_escaping_and_attached_whole() -> None:
    text = "a" * (TEXT_LIMIT - 2) + "<b>" + "c" * 500
    message = text_message("logs · prod", text, "logs-prod.txt")
    shown = message.blocks[1]["text"]["text"]
    # "&lt;" would straddle the limit: it is left out whole, never cut in two
    assert shown == FENCE + "a" * (TEXT_LIMIT - 2) + "\n…" + FENCE
    assert len(shown) <= MAX_TEXT
    assert message.files == [("logs-prod.txt", text)]
    validate_blocks(message.blocks)


def test_a_cut_at_a_whole_entity_keeps_it() -> None:
    text = "a" * (TEXT_LIMIT - 4) + "<" + "b" * 10
    shown = text_message("t", text, "t.txt").blocks[1]["text"]["text"]
    assert shown == FENCE + "a" * (TEXT_LIMIT - 4) + "&lt;" + "\n…" + FENCE


def _as_the_app_built_it(title: str, text: str) -> tuple[list[dict[str, object]], bool]:
    """The blocks ``SlackBot._post_text`` built inline before they moved here."""
    from bot.render.slack import escape

    safe = escape(text).replace(FENCE, "` ` `")
    cut = len(safe) > 2900
    if cut:
        safe = safe[:2900]
        entity = safe.rfind("&")
        if entity != -1 and ";" not in safe[entity:]:
            safe = safe[:entity]
        safe += "\n…"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{escape(title)}*"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"{FENCE}{safe}{FENCE}"}},
    ], cut


def test_it_renders_as_the_app_did() -> None:
    texts = [
        "",
        "no audit rows for this environment yet",
        "&" * 3000,
        "x" * 2899 + "&amp;",
        "<!channel> " * 400,
        "```" * 1200,
        "\n".join(f"{n:>6} row <{n}> & more" for n in range(300)),
    ]
    for text in texts:
        for title in ("audit · prod · last 10", "logs · <prod> & co"):
            blocks, cut = _as_the_app_built_it(title, text)
            message = text_message(title, text, "f.txt")
            assert message.blocks == blocks and message.text == title
            assert message.files == ([("f.txt", text)] if cut else [])
