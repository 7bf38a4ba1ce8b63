"""The three renderings of a conversation (CLUE-SPEC, common protocol).

- ``system``: chat template with a system role.
- ``nosystem``: chat template, the system text folded into the first user turn.
- ``plain``: plain text for base models without a chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from clue.records import Message

ChatStyle = Literal["system", "nosystem", "plain"]
CHAT_STYLES: tuple[ChatStyle, ...] = ("system", "nosystem", "plain")

_PLAIN_LABELS = {"system": "", "user": "### User:", "assistant": "### Assistant:"}


def fold_system(messages: Sequence[Message]) -> tuple[Message, ...]:
    """Prepend the system text to the first user turn; drop the system message."""
    system = "\n\n".join(m.content for m in messages if m.role == "system")
    rest = [m for m in messages if m.role != "system"]
    if not system:
        return tuple(rest)
    if rest and rest[0].role == "user":
        rest[0] = Message("user", f"{system}\n\n{rest[0].content}")
    else:
        rest.insert(0, Message("user", system))
    return tuple(rest)


def to_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def to_plain_text(messages: Sequence[Message]) -> str:
    """Plain-text rendering: system text first, then labelled turns, ending with the assistant cue."""
    parts: list[str] = []
    for m in messages:
        if m.role == "system":
            parts.append(m.content)
        else:
            parts.append(f"{_PLAIN_LABELS[m.role]}\n{m.content}")
    parts.append(_PLAIN_LABELS["assistant"])
    return "\n\n".join(parts) + "\n"


def chat_messages(messages: Sequence[Message], style: ChatStyle) -> list[dict[str, str]]:
    """Messages for a chat API (template or server) in the given style."""
    if style == "plain":
        raise ValueError("the plain style has no chat messages; use to_plain_text")
    return to_dicts(fold_system(messages) if style == "nosystem" else messages)


def render(messages: Sequence[Message], style: ChatStyle, tokenizer: Any = None) -> str:
    """The prompt string a local engine feeds the model.

    ``tokenizer`` must offer ``apply_chat_template`` for the chat styles.
    """
    if style == "plain":
        return to_plain_text(messages)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"chat style {style!r} needs a tokenizer with a chat template")
    return tokenizer.apply_chat_template(
        chat_messages(messages, style), tokenize=False, add_generation_prompt=True
    )


def detect_style(tokenizer: Any) -> ChatStyle:
    """``system`` if the template accepts a system turn, ``nosystem`` if it rejects one, else ``plain``."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return "plain"
    probe = [Message("system", "s"), Message("user", "u")]
    try:
        out = render(probe, "system", tokenizer)
    except Exception:  # templates raise anything (jinja TemplateError, ValueError) on a system turn
        return "nosystem"
    return "system" if "s" in out else "nosystem"
