"""Deterministic "model output": pseudo-words derived from a hash of everything that shaped the turn.

A test can recompute the exact reply from what its client sent, so the reply proves the request was right:
a different model, system prompt, user text or turn number gives different words. Asking for fewer tokens
gives a prefix of the longer reply, like a generation cut short.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence

from lms_mcp.simulator.state import Message

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
# Prompt-template overhead per message and the cost of one image, in input tokens.
MESSAGE_OVERHEAD_TOKENS = 4
IMAGE_TOKENS = 64
_TOKEN = re.compile(r"\s*\S+(?:\s*\Z)?")


def reply_tokens(model_key: str, system_prompt: str | None, user_text: str, turn: int, n_tokens: int) -> list[str]:
    """The reply as streamed: the first word, then each later word with its leading space."""
    return _tokens("message", model_key, system_prompt, user_text, turn, n_tokens)


def reply_text(model_key: str, system_prompt: str | None, user_text: str, turn: int, n_tokens: int) -> str:
    """The assistant message for one turn (turn 1 = new conversation, 2 = first continuation, ...)."""
    return "".join(reply_tokens(model_key, system_prompt, user_text, turn, n_tokens))


def reasoning_tokens(model_key: str, system_prompt: str | None, user_text: str, turn: int, n_tokens: int) -> list[str]:
    return _tokens("reasoning", model_key, system_prompt, user_text, turn, n_tokens)


def reasoning_text(model_key: str, system_prompt: str | None, user_text: str, turn: int, n_tokens: int) -> str:
    """The reasoning segment for one turn; derived like `reply_text` but from a different stream of words."""
    return "".join(reasoning_tokens(model_key, system_prompt, user_text, turn, n_tokens))


def tool_output_text(tool: str, arguments_json: str) -> str:
    """The text a scripted MCP tool "returns"."""
    return "".join(_tokens("tool", tool, None, arguments_json, 1, 6))


def user_text_of(texts: Iterable[str]) -> str:
    """How the text items of an `input` array combine into the user text the reply is derived from."""
    return "\n".join(texts)


def pseudo_word(seed: str) -> str:
    """One word of the same vocabulary as the replies, fixed by `seed` (structured answers are built from these)."""
    return _word(hashlib.sha256(seed.encode()).digest())


def text_tokens(text: str) -> list[str]:
    """A scripted answer as streamed tokens: each word with its leading whitespace, so they join back to `text`."""
    return _TOKEN.findall(text)


def count_words(text: str) -> int:
    return len(text.split())


def input_tokens(messages: Sequence[Message]) -> int:
    """Prompt size of a whole conversation: words, plus template overhead per message, plus images."""
    return sum(count_words(m.content) + MESSAGE_OVERHEAD_TOKENS + IMAGE_TOKENS * m.images for m in messages)


def _tokens(kind: str, model_key: str, system_prompt: str | None, user_text: str, turn: int, n: int) -> list[str]:
    seed = hashlib.sha256(json.dumps([kind, model_key, system_prompt, user_text, turn]).encode()).digest()
    words = [_word(hashlib.sha256(seed + index.to_bytes(4, "big")).digest()) for index in range(max(n, 0))]
    return [word if index == 0 else " " + word for index, word in enumerate(words)]


def _word(digest: bytes) -> str:
    syllables = 1 + digest[0] % 3
    return "".join(
        _CONSONANTS[digest[1 + 2 * i] % len(_CONSONANTS)] + _VOWELS[digest[2 + 2 * i] % len(_VOWELS)]
        for i in range(syllables)
    )
