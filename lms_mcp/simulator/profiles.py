"""Builds of LM Studio the simulator can play: where a real build differs from the docs, and from other builds.

Without a profile the simulator plays `latest`. Every difference is a flag read per request, and every flag names
its source (LM Studio's bug tracker unless said otherwise: https://github.com/lmstudio-ai/lmstudio-bug-tracker).
docs/lmstudio-compatibility.md lists the same behaviours with the builds each one was reported on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    # One line for `lms-mcp simulate --help`.
    summary: str
    # GET /api/v1/models: `capabilities.reasoning` {allowed_options, default} is listed from 0.4.8 on
    # (issue #1659: absent in 0.4.6, "added as feature in 0.4.8 release").
    lists_reasoning: bool = True
    # GET /api/v1/models: `loaded_instances[].config.parallel`. Absent from the 0.4.0 docs example; documented
    # from April 2026 (lmstudio-ai/docs 381918a) and seen in 0.4.16+ (issue #2061 "n_parallel=4").
    lists_parallel: bool = True
    # POST /api/v1/chat: a `system_prompt` on a turn that continues a stored conversation (previous_response_id)
    # fails with HTTP 500 "Only user, assistant and tool roles are supported, got system" (0.4.20: issue #2219,
    # lmstudio-ai/lms#611; open, no fix reported since).
    system_prompt_on_continuation_fails: bool = True
    # POST /v1/chat/completions with a json_schema response_format: a model that reasons puts the JSON in
    # `message.reasoning_content` and answers `"content": ""` (0.4.7: #1698, 0.4.8: #1971, 0.4.10: #1773,
    # 0.4.11-0.4.12: #1779).
    structured_in_reasoning: bool = False
    # POST /v1/chat/completions: a `data:image/webp;base64,...` image is refused with HTTP 400 and the bare string
    # "'url' field must be a base64 encoded image." (0.3.27: #1027, 0.4.7: cline/cline#9902, 0.4.9: #1752,
    # 0.4.12: #1839; still described as refused in June-July 2026: cline/cline#11522, vas3k/TaxHacker#160).
    refuses_webp: bool = True


PROFILES: dict[str, Profile] = {
    profile.name: profile
    for profile in (
        Profile(
            "0.4.6",
            "models listed without capabilities.reasoning and the instances' parallel; WebP refused",
            lists_reasoning=False,
            lists_parallel=False,
            system_prompt_on_continuation_fails=False,
        ),
        Profile(
            "0.4.10",
            'json_schema answers of reasoning models in reasoning_content, content ""; WebP refused',
            structured_in_reasoning=True,
            system_prompt_on_continuation_fails=False,
        ),
        Profile(
            "0.4.20",
            "HTTP 500 for a system_prompt on a continued conversation; WebP refused",
        ),
        Profile(
            "latest",
            "as 0.4.20: no fix reported up to 0.4.23 (the default)",
        ),
    )
}
PROFILE_NAMES: tuple[str, ...] = tuple(PROFILES)
DEFAULT_PROFILE = "latest"


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown LM Studio profile {name!r}; expected one of {', '.join(PROFILE_NAMES)}") from None


def profiles_help() -> str:
    """The profiles with one line each, for --help."""
    return "\n".join(f"  {profile.name:<8} {profile.summary}" for profile in PROFILES.values())
