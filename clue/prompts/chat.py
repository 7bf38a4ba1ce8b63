"""The three renderings of a request's conversation (CLUE-PROTOCOLS §1.1), by its ``Rendering`` rules.

- ``system``: the model's chat template with a system turn, then the generation prefix.
- ``nosystem``: the chat template, the system text folded into the first user turn
  (``S + fold_separator + U_1``), then the prefix.
- ``plain``: base models without a chat template: the turns' texts joined by ``plain_separator``, no
  role labels, then (where the protocol says so) the separator and the prefix.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from clue.records import Message, Request

ChatStyle = Literal["system", "nosystem", "plain"]
CHAT_STYLES: tuple[ChatStyle, ...] = ("system", "nosystem", "plain")


def fold_system(messages: Sequence[Message], separator: str) -> tuple[Message, ...]:
    """Prepend the system text to the first user turn with ``separator``; drop the system message."""
    system = separator.join(m.content for m in messages if m.role == "system")
    rest = [m for m in messages if m.role != "system"]
    if not any(m.role == "system" for m in messages):
        return tuple(rest)
    if rest and rest[0].role == "user":
        rest[0] = Message("user", f"{system}{separator}{rest[0].content}")
    else:
        rest.insert(0, Message("user", system))
    return tuple(rest)


def to_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def to_plain_text(request: Request) -> str:
    """The plain rendering for base models (no chat template, no role labels)."""
    r = request.rendering
    text = r.plain_separator.join(m.content for m in request.messages)
    return text + r.plain_separator + r.prefix if r.plain_ends_with_prefix else text


def chat_messages(request: Request, style: ChatStyle) -> list[dict[str, str]]:
    """Messages for a chat API (template or server) in the given style; the prefix is not among them."""
    if style == "plain":
        raise ValueError("the plain style has no chat messages; use to_plain_text")
    messages = request.messages
    return to_dicts(fold_system(messages, request.rendering.fold_separator) if style == "nosystem" else messages)


def render(request: Request, style: ChatStyle, tokenizer: Any = None) -> str:
    """The prompt string a local engine feeds the model (template output + generation prefix).

    ``tokenizer`` must offer ``apply_chat_template`` for the chat styles.
    """
    if style == "plain":
        return to_plain_text(request)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"chat style {style!r} needs a tokenizer with a chat template")
    text = tokenizer.apply_chat_template(chat_messages(request, style), tokenize=False, add_generation_prompt=True)
    return text + request.rendering.prefix


def detect_style(tokenizer: Any) -> ChatStyle:
    """``system`` if the template accepts a system turn, ``nosystem`` if it rejects one, else ``plain``."""
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return "plain"
    probe = Request(id="probe", task="probe", messages=(Message("system", "s"), Message("user", "u")), max_new_tokens=1, reference="")
    try:
        out = render(probe, "system", tokenizer)
    except Exception:  # templates raise anything (jinja TemplateError, ValueError) on a system turn
        return "nosystem"
    return "system" if "s" in out else "nosystem"
