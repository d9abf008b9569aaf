"""The client against every LM Studio build the simulator plays: what each build's quirks look like from here."""

import base64
import json
from collections.abc import AsyncIterator

import pytest

from lms_mcp.lmstudio import BadRequestError, LMStudioClient, ServerError
from lms_mcp.lmstudio.models import (
    ChatRequest,
    CompletionMessage,
    CompletionRequest,
    ImagePart,
    ImageUrl,
    JsonSchemaFormat,
    ResponseFormat,
    TextPart,
)
from lms_mcp.simulator import PROFILES, Simulator, serve_in_thread
from tests.support import GEMMA, XHIGH

pytestmark = pytest.mark.anyio

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture
async def lms(profile: str) -> AsyncIterator[LMStudioClient]:
    with serve_in_thread(Simulator(profile=profile)) as url:
        async with LMStudioClient(url) as client:
            yield client


async def test_the_model_listing_parses_with_or_without_reasoning_options(profile: str, lms: LMStudioClient) -> None:
    models = {model.key: model for model in (await lms.list_models()).models}
    capabilities = models[XHIGH].capabilities
    assert capabilities is not None
    if PROFILES[profile].lists_reasoning:
        assert capabilities.reasoning and "xhigh" in capabilities.reasoning.allowed_options
    else:
        assert capabilities.reasoning is None
    assert models[GEMMA].loaded_instances[0].config.parallel == (4 if PROFILES[profile].lists_parallel else None)
    answer = await lms.chat(ChatRequest(model=XHIGH, input="x", reasoning="xhigh", store=False))
    assert answer.reasoning_text and answer.message_text


async def test_a_structured_answer_is_in_content_or_in_reasoning_content(profile: str, lms: LMStudioClient) -> None:
    schema_format = ResponseFormat(type="json_schema", json_schema=JsonSchemaFormat(name="answer", schema=SCHEMA))
    request = CompletionRequest(
        model=GEMMA,
        messages=[CompletionMessage(role="user", content="Where?")],
        response_format=schema_format,
        reasoning_effort="none",
    )
    message = (await lms.chat_completions(request)).choices[0].message
    if PROFILES[profile].structured_in_reasoning:
        assert message.content == "" and message.reasoning_content is not None
        assert set(json.loads(message.reasoning_content)) == {"city"}
    else:
        assert message.content and set(json.loads(message.content)) == {"city"}
        assert message.reasoning_content is None


async def test_a_system_prompt_on_a_continued_conversation(profile: str, lms: LMStudioClient) -> None:
    first = await lms.chat(ChatRequest(model=GEMMA, input="one", system_prompt="A", reasoning="off"))
    follow = ChatRequest(model=GEMMA, input="two", system_prompt="B", previous_response_id=first.response_id)
    if not PROFILES[profile].system_prompt_on_continuation_fails:
        assert (await lms.chat(follow)).message_text
        return
    with pytest.raises(ServerError) as caught:
        await lms.chat(follow)
    assert caught.value.status_code == 500
    assert str(caught.value) == "Only user, assistant and tool roles are supported, got system"


async def test_a_webp_image_is_refused_with_lm_studios_words(lms: LMStudioClient) -> None:
    webp = "data:image/webp;base64," + base64.b64encode(b"RIFF\x1a\x00\x00\x00WEBPVP8 ").decode()
    parts = [TextPart(text="What is this?"), ImagePart(image_url=ImageUrl(url=webp))]
    request = CompletionRequest(model=GEMMA, messages=[CompletionMessage(role="user", content=parts)])
    with pytest.raises(BadRequestError) as caught:
        await lms.chat_completions(request)
    assert caught.value.status_code == 400
    assert str(caught.value) == "'url' field must be a base64 encoded image."


async def test_a_model_listed_without_capabilities_parses() -> None:
    sim = Simulator()
    sim.config.catalog[0].lists_capabilities = False
    with serve_in_thread(sim) as url:
        async with LMStudioClient(url) as client:
            gemma = (await client.list_models()).models[0]
    assert gemma.key == GEMMA and gemma.type == "llm" and gemma.capabilities is None
