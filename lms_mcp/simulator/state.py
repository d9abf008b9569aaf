"""What the simulated server remembers between requests: models and their instances, chat threads, download jobs."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Literal

import anyio

from lms_mcp.simulator.catalog import LoadedInstance, ModelEntry, synthetic_models
from lms_mcp.simulator.config import SimulatorConfig
from lms_mcp.simulator.downloads import DownloadJob


@dataclass(frozen=True)
class ToolCall:
    """A function call an assistant message made (OpenAI-compatible route): `arguments` is the raw JSON text."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    role: Literal["system", "user", "assistant", "tool"]
    content: str
    images: int = 0
    # An assistant turn's function calls, and the call a `tool` message answers.
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass
class PendingLoad:
    """A JIT load in progress, so concurrent chats for the same model wait for it instead of loading twice."""

    instance_id: str
    done: anyio.Event = field(default_factory=anyio.Event)


@dataclass(frozen=True)
class LoadOptions:
    context_length: int | None = None
    eval_batch_size: int | None = None
    flash_attention: bool | None = None
    num_experts: int | None = None
    offload_kv_cache_to_gpu: bool | None = None


class State:
    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        # response_id -> the whole conversation up to and including that response, so any id can be branched from.
        self.threads: dict[str, list[Message]] = {}
        self.jobs: dict[str, DownloadJob] = {}
        self.pending_jit: dict[str, PendingLoad] = {}
        self._synthetic: list[ModelEntry] = []
        self._reserved_ids: set[str] = set()

    def models(self) -> list[ModelEntry]:
        if len(self._synthetic) != self.config.synthetic_models:
            self._synthetic = synthetic_models(self.config.synthetic_models)
        return [*self.config.catalog, *self._synthetic]

    def refresh(self) -> None:
        """Apply what time has done since the last request: finished downloads and expired JIT instances."""
        now = time.monotonic()
        for job in self.jobs.values():
            if not job.delivered and job.status(now) == "completed":
                job.delivered = True
                if self.find_model(job.entry.key) is None:
                    self.config.catalog.append(job.entry)
        ttl = self.config.jit_ttl
        if ttl is not None:
            for entry in self.models():
                entry.loaded_instances[:] = [
                    instance
                    for instance in entry.loaded_instances
                    if not (instance.jit and now - instance.last_used > ttl)
                ]

    def find_model(self, ref: str) -> ModelEntry | None:
        """A model by key or by variant id (`key@quant`)."""
        for entry in self.models():
            if entry.key == ref or ref in entry.variant_ids():
                return entry
        return None

    def find_instance(self, instance_id: str) -> tuple[ModelEntry, LoadedInstance] | None:
        for entry in self.models():
            for instance in entry.loaded_instances:
                if instance.id == instance_id:
                    return entry, instance
        return None

    def reserve_instance_id(self, entry: ModelEntry) -> str:
        """The first free id: the key itself, then `key:2`, `key:3`, ..."""
        taken = {instance.id for instance in entry.loaded_instances} | self._reserved_ids
        number = 1
        while (candidate := entry.key if number == 1 else f"{entry.key}:{number}") in taken:
            number += 1
        self._reserved_ids.add(candidate)
        return candidate

    def release_instance_id(self, instance_id: str) -> None:
        self._reserved_ids.discard(instance_id)

    def add_instance(self, entry: ModelEntry, instance_id: str, options: LoadOptions, *, jit: bool) -> LoadedInstance:
        self.release_instance_id(instance_id)
        if entry.type == "embedding":
            instance = LoadedInstance(id=instance_id, context_length=options.context_length or _default_ctx(entry))
        else:
            instance = LoadedInstance(
                id=instance_id,
                context_length=options.context_length or _default_ctx(entry),
                eval_batch_size=options.eval_batch_size or 512,
                flash_attention=True if options.flash_attention is None else options.flash_attention,
                num_experts=(options.num_experts or entry.num_experts or 0) if entry.num_experts else 0,
                offload_kv_cache_to_gpu=(
                    True if options.offload_kv_cache_to_gpu is None else options.offload_kv_cache_to_gpu
                ),
            )
        instance.jit = jit
        instance.last_used = time.monotonic()
        entry.loaded_instances.append(instance)
        return instance

    def remove_instance(self, instance_id: str) -> bool:
        found = self.find_instance(instance_id)
        if found is not None:
            entry, instance = found
            entry.loaded_instances.remove(instance)
        return found is not None

    def evict_jit_instances(self) -> None:
        for entry in self.models():
            entry.loaded_instances[:] = [instance for instance in entry.loaded_instances if not instance.jit]

    def save_thread(self, messages: list[Message]) -> str:
        response_id = "resp_" + secrets.token_hex(24)
        self.threads[response_id] = list(messages)
        return response_id


def _default_ctx(entry: ModelEntry) -> int:
    return min(entry.default_context_length, entry.max_context_length)
