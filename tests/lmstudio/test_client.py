"""The LM Studio client against the simulator over real loopback HTTP: every endpoint, every error class."""

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing

import httpx2
import pytest

from lms_mcp.lmstudio import (
    AuthInvalidError,
    AuthRequiredError,
    BadRequestError,
    ConnectionLostError,
    JobNotFoundError,
    LMStudioClient,
    LMStudioTimeoutError,
    LMStudioUnreachableError,
    MalformedResponseError,
    ModelNotFoundError,
    NotLMStudioV1Error,
    ServerError,
)
from lms_mcp.lmstudio.models import ChatRequest, DownloadRequest, EmbeddingsRequest, ImageInput, LoadRequest, TextInput
from lms_mcp.lmstudio.streaming import (
    ChatEnd,
    ChatEvent,
    ChatStart,
    ErrorEvent,
    MessageDelta,
    ModelLoadEnd,
    ModelLoadProgress,
    ModelLoadStart,
    PromptProcessingEnd,
    PromptProcessingStart,
    ReasoningDelta,
)
from lms_mcp.simulator import Simulator, SimulatorConfig, reply_text, serve_in_thread
from tests.support import GEMMA as LOADED
from tests.support import LM_TOKEN as TOKEN
from tests.support import QWEN as UNLOADED
from tests.support import lm_studio_0_3, wait_for

pytestmark = pytest.mark.anyio


@pytest.fixture
async def lms(sim_url: str) -> AsyncIterator[LMStudioClient]:
    async with LMStudioClient(sim_url) as client:
        yield client


async def collect(client: LMStudioClient, request: ChatRequest) -> list[ChatEvent]:
    async with aclosing(client.chat_stream(request)) as events:
        return [event async for event in events]


async def test_greeting(lms: LMStudioClient) -> None:
    assert await lms.greeting() is True


async def test_list_models_parses_the_catalog(lms: LMStudioClient, sim: Simulator) -> None:
    listing = await lms.list_models()
    assert [m.key for m in listing.models] == [m.key for m in sim.config.catalog]
    gemma = next(m for m in listing.models if m.key == LOADED)
    assert gemma.capabilities and gemma.capabilities.vision
    assert gemma.capabilities.reasoning and gemma.capabilities.reasoning.allowed_options == ["off", "on"]
    assert [i.id for i in gemma.loaded_instances] == [LOADED]
    embedding = next(m for m in listing.models if m.type == "embedding")
    assert embedding.capabilities is None


async def test_chat_sends_only_set_fields_and_parses_the_answer(lms: LMStudioClient, sim: Simulator) -> None:
    response = await lms.chat(ChatRequest(model=UNLOADED, input="hello", max_output_tokens=5))
    assert response.message_text == reply_text(UNLOADED, None, "hello", 1, 5)
    assert response.stats.total_output_tokens == 5
    assert response.response_id and response.response_id.startswith("resp_")
    assert sim.requests[-1].body == {"model": UNLOADED, "input": "hello", "max_output_tokens": 5}


async def test_chat_with_input_items_and_a_stateful_follow_up(lms: LMStudioClient, sim: Simulator) -> None:
    pixel = "data:image/png;base64,iVBORw0KGgo="
    first = await lms.chat(
        ChatRequest(model=LOADED, input=[TextInput(content="what is this"), ImageInput(data_url=pixel)])
    )
    assert sim.requests[-1].body == {
        "model": LOADED,
        "input": [{"type": "text", "content": "what is this"}, {"type": "image", "data_url": pixel}],
    }
    follow = await lms.chat(ChatRequest(model=LOADED, input="and?", previous_response_id=first.response_id))
    assert follow.message_text == reply_text(LOADED, None, "and?", 2, sim.config.reply_tokens)


async def test_chat_without_store_has_no_response_id(lms: LMStudioClient) -> None:
    response = await lms.chat(ChatRequest(model=LOADED, input="x", store=False, reasoning="off"))
    assert response.response_id is None


async def test_stream_follows_the_documented_order_and_ends_with_the_full_result(lms: LMStudioClient) -> None:
    events = await collect(lms, ChatRequest(model=UNLOADED, input="stream me"))
    kinds = [type(e) for e in events]
    assert kinds[0] is ChatStart and kinds[-1] is ChatEnd
    assert kinds.index(ModelLoadStart) < kinds.index(ModelLoadEnd) < kinds.index(PromptProcessingStart)
    assert kinds.index(PromptProcessingEnd) < kinds.index(MessageDelta)
    assert ModelLoadProgress in kinds
    end = events[-1]
    assert isinstance(end, ChatEnd)
    deltas = "".join(e.content for e in events if isinstance(e, MessageDelta))
    assert deltas == end.result.message_text
    assert end.result.stats.model_load_time_seconds is not None


async def test_stream_of_a_reasoning_model_carries_reasoning_deltas(lms: LMStudioClient) -> None:
    events = await collect(lms, ChatRequest(model="deepseek-r1", input="think"))
    end = events[-1]
    assert isinstance(end, ChatEnd)
    reasoning = "".join(e.content for e in events if isinstance(e, ReasoningDelta))
    assert reasoning and reasoning == end.result.reasoning_text
    assert end.result.stats.reasoning_output_tokens > 0


async def test_error_event_mid_stream_is_followed_by_chat_end(lms: LMStudioClient, sim: Simulator) -> None:
    sim.inject("error_event", route="/api/v1/chat", after_tokens=3)
    events = await collect(lms, ChatRequest(model=LOADED, input="x", reasoning="off"))
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].error.message
    end = events[-1]
    assert isinstance(end, ChatEnd)
    assert len(end.result.message_text.split()) == 3


async def test_stream_dropped_mid_way_is_connection_lost(lms: LMStudioClient, sim: Simulator) -> None:
    sim.inject("drop_stream", route="/api/v1/chat", after_events=4)
    with pytest.raises(ConnectionLostError):
        await collect(lms, ChatRequest(model=LOADED, input="x"))


async def test_load_second_instance_and_unload(lms: LMStudioClient) -> None:
    first = await lms.load_model(LoadRequest(model=UNLOADED, context_length=8192, echo_load_config=True))
    assert first.instance_id == UNLOADED and first.status == "loaded"
    assert first.load_config and first.load_config.context_length == 8192
    second = await lms.load_model(LoadRequest(model=UNLOADED))
    assert second.instance_id == f"{UNLOADED}:2" and second.load_config is None
    assert (await lms.unload_model(second.instance_id)).instance_id == f"{UNLOADED}:2"


async def test_download_job_and_status(lms: LMStudioClient, sim: Simulator) -> None:
    sim.config.download_duration = 5
    job = await lms.download_model(DownloadRequest(model="ibm/granite-4-micro"))
    assert job.status == "downloading" and job.job_id and job.total_size_bytes
    assert job.job_id
    status = await lms.download_status(job.job_id)
    assert status.job_id == job.job_id and status.status == "downloading"
    assert status.bytes_per_second is not None and status.estimated_completion is not None
    already = await lms.download_model(DownloadRequest(model=LOADED))
    assert already.status == "already_downloaded" and already.job_id is None


async def test_embeddings(lms: LMStudioClient) -> None:
    response = await lms.embeddings(
        EmbeddingsRequest(model="text-embedding-nomic-embed-text-v1.5", input=["one", "two"])
    )
    assert [e.index for e in response.data] == [0, 1]
    assert response.data[0].embedding != response.data[1].embedding


# --- every error class from a real response -------------------------------------------------------


async def test_unknown_model_is_model_not_found(lms: LMStudioClient) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        await lms.chat(ChatRequest(model="nope/none", input="x"))
    assert caught.value.status_code == 404 and caught.value.type == "model_not_found"


async def test_unknown_instance_on_unload_is_model_not_found(lms: LMStudioClient) -> None:
    with pytest.raises(ModelNotFoundError):
        await lms.unload_model("nope/none")


async def test_unknown_job_is_job_not_found(lms: LMStudioClient) -> None:
    with pytest.raises(JobNotFoundError) as caught:
        await lms.download_status("job_ffffffffff")
    assert caught.value.status_code == 404


async def test_invalid_reasoning_is_a_bad_request_naming_the_param(lms: LMStudioClient) -> None:
    with pytest.raises(BadRequestError) as caught:
        await lms.chat(ChatRequest(model=LOADED, input="x", reasoning="high"))
    assert caught.value.status_code == 400 and caught.value.param == "reasoning"
    assert caught.value.type == "invalid_request"


async def test_invalid_reasoning_in_a_stream_is_raised_before_any_event(lms: LMStudioClient) -> None:
    with pytest.raises(BadRequestError):
        await collect(lms, ChatRequest(model=UNLOADED, input="x", reasoning="on"))


async def test_http_500_is_a_server_error(lms: LMStudioClient, sim: Simulator) -> None:
    sim.inject("http_500", route="/api/v1/models")
    with pytest.raises(ServerError) as caught:
        await lms.list_models()
    assert caught.value.status_code == 500
    assert (await lms.list_models()).models  # the fault fired once; the next call is fine


async def test_malformed_json_is_a_malformed_response(lms: LMStudioClient, sim: Simulator) -> None:
    sim.inject("malformed_json", route="/api/v1/models")
    with pytest.raises(MalformedResponseError):
        await lms.list_models()


async def test_slow_headers_are_a_read_timeout(sim: Simulator, sim_url: str) -> None:
    sim.inject("slow_headers", route="/api/v1/models", delay=1.0)
    async with LMStudioClient(sim_url, read_timeout=0.2) as client:
        with pytest.raises(LMStudioTimeoutError) as caught:
            await client.list_models()
    assert caught.value.phase == "read"


async def test_stalled_stream_is_a_read_timeout(sim: Simulator, sim_url: str) -> None:
    sim.inject("stall_stream", route="/api/v1/chat", delay=1.0)
    async with LMStudioClient(sim_url, read_timeout=0.2) as client:
        with pytest.raises(LMStudioTimeoutError):
            await collect(client, ChatRequest(model=LOADED, input="x"))


async def test_nothing_listening_is_unreachable() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with LMStudioClient(f"http://127.0.0.1:{port}") as client:
        with pytest.raises(LMStudioUnreachableError) as caught:
            await client.list_models()
    assert f"127.0.0.1:{port}" in str(caught.value)


@pytest.fixture
def auth_sim_url() -> Iterator[str]:
    with serve_in_thread(Simulator(SimulatorConfig(api_tokens=[TOKEN]))) as url:
        yield url


async def test_missing_token_is_auth_required(auth_sim_url: str) -> None:
    async with LMStudioClient(auth_sim_url) as client:
        assert await client.greeting() is True  # the probe needs no token
        with pytest.raises(AuthRequiredError) as caught:
            await client.list_models()
    assert caught.value.status_code == 401 and caught.value.code == "invalid_api_key"


@pytest.mark.parametrize("token", ["not-a-token", "sk-lm-zzzzzzzz:zzzzzzzzzzzzzzzzzzzz"])
async def test_wrong_token_is_auth_invalid(auth_sim_url: str, token: str) -> None:
    async with LMStudioClient(auth_sim_url, api_token=token) as client:
        with pytest.raises(AuthInvalidError):
            await client.list_models()


async def test_right_token_is_sent_as_bearer(auth_sim_url: str) -> None:
    async with LMStudioClient(auth_sim_url, api_token=TOKEN) as client:
        assert (await client.list_models()).models


async def test_an_lm_studio_before_0_4_is_not_a_v1_server() -> None:
    with serve_in_thread(lm_studio_0_3()) as url:
        async with LMStudioClient(url) as client:
            with pytest.raises(NotLMStudioV1Error) as caught:
                await client.list_models()
            with pytest.raises(NotLMStudioV1Error):
                await collect(client, ChatRequest(model=LOADED, input="x"))
    assert "Unexpected endpoint or method. (GET /api/v1/models)" in str(caught.value)


async def test_cancelling_a_stream_disconnects_upstream(sim: Simulator, sim_url: str) -> None:
    sim.config.tokens_per_second = 20
    sim.config.reply_tokens = 200
    async with LMStudioClient(sim_url) as client:
        async with aclosing(client.chat_stream(ChatRequest(model=LOADED, input="long"))) as events:
            async for event in events:
                if isinstance(event, MessageDelta):
                    break
    await wait_for(lambda: sim.requests[-1].disconnected)


@pytest.mark.parametrize("url", ["http://127.0.0.1:1234/v1", "http://127.0.0.1:1234/api/v1/", "http://127.0.0.1:1234"])
def test_base_url_is_normalised(url: str) -> None:
    assert LMStudioClient(url).base_url == "http://127.0.0.1:1234"


def test_job_ids_are_escaped_into_the_path() -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.url.raw_path.decode())
        return httpx2.Response(200, json={"job_id": "x", "status": "completed"})

    import anyio

    async def run() -> None:
        async with LMStudioClient(transport=httpx2.MockTransport(handler)) as client:
            await client.download_status("../../models/load")

    anyio.run(run)
    assert seen == ["/api/v1/models/download/status/..%2F..%2Fmodels%2Fload"]


def test_request_models_refuse_undocumented_fields() -> None:
    with pytest.raises(ValueError):
        ChatRequest.model_validate({"model": "m", "input": "x", "ttl": 60})
    assert json.loads(json.dumps(ChatRequest(model="m", input="x").to_wire())) == {"model": "m", "input": "x"}
