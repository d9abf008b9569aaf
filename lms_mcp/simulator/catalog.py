"""The models the simulator knows: downloaded ones, downloadable ones, and synthetic filler for scale tests.

Entries are mutable on purpose: loaded instances live on their model entry, so a test can put a model in any
state by editing `SimulatorConfig.catalog`, and `/api/v1/models` always shows exactly that state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ModelType = Literal["llm", "embedding"]


@dataclass
class LoadedInstance:
    """One loaded copy of a model, as listed in `loaded_instances`."""

    id: str
    context_length: int
    eval_batch_size: int = 512
    parallel: int = 4
    flash_attention: bool = True
    num_experts: int = 0
    offload_kv_cache_to_gpu: bool = True
    # Only JIT-loaded instances are auto-evicted and expire after the idle TTL (API.md §6).
    jit: bool = False
    last_used: float = 0.0

    def to_json(self, model_type: ModelType, *, parallel: bool = True) -> dict[str, Any]:
        if model_type == "embedding":
            return {"id": self.id, "config": {"context_length": self.context_length}}
        config: dict[str, Any] = {"context_length": self.context_length, "eval_batch_size": self.eval_batch_size}
        if parallel:
            config["parallel"] = self.parallel
        config |= {
            "flash_attention": self.flash_attention,
            "num_experts": self.num_experts,
            "offload_kv_cache_to_gpu": self.offload_kv_cache_to_gpu,
        }
        return {"id": self.id, "config": config}


@dataclass
class Reasoning:
    allowed_options: list[str]
    default: str


@dataclass
class ModelEntry:
    """A downloaded model. Field names follow `/api/v1/models`."""

    key: str
    type: ModelType
    publisher: str
    display_name: str
    quantization: str | None
    bits_per_weight: float | None
    size_bytes: int
    params_string: str | None
    max_context_length: int
    architecture: str | None = None
    format: str | None = "gguf"
    vision: bool = False
    trained_for_tool_use: bool = False
    reasoning: Reasoning | None = None
    description: str | None = None
    # Listed only for multi-variant models; the first one is the selected variant.
    variants: list[str] = field(default_factory=lambda: list[str]())
    # None for dense models; MoE models report their expert count in the load config.
    num_experts: int | None = None
    # False: an LLM listed with no `capabilities` at all, as a live LM Studio 0.4.21 listed one side-loaded model.
    lists_capabilities: bool = True
    default_context_length: int = 4096
    loaded_instances: list[LoadedInstance] = field(default_factory=lambda: list[LoadedInstance]())

    def variant_ids(self) -> list[str]:
        """Every `key@quant` id that names this model, listed or not."""
        own = f"{self.key}@{self.quantization.lower()}" if self.quantization else None
        return [*self.variants, *([own] if own and own not in self.variants else [])]

    def _capabilities(self, reasoning: bool) -> dict[str, Any]:
        capabilities: dict[str, Any] = {"vision": self.vision, "trained_for_tool_use": self.trained_for_tool_use}
        if self.reasoning is not None and reasoning:
            capabilities["reasoning"] = {
                "allowed_options": list(self.reasoning.allowed_options),
                "default": self.reasoning.default,
            }
        return capabilities

    def to_json(self, *, reasoning: bool = True, parallel: bool = True) -> dict[str, Any]:
        """The `/api/v1/models` entry; `reasoning` and `parallel` say whether the build lists those fields."""
        quantization = (
            None
            if self.quantization is None and self.bits_per_weight is None
            else {"name": self.quantization, "bits_per_weight": _number(self.bits_per_weight)}
        )
        body: dict[str, Any] = {
            "type": self.type,
            "publisher": self.publisher,
            "key": self.key,
            "display_name": self.display_name,
        }
        if self.type == "llm":
            body["architecture"] = self.architecture
        body |= {
            "quantization": quantization,
            "size_bytes": self.size_bytes,
            "params_string": self.params_string,
            "loaded_instances": [instance.to_json(self.type, parallel=parallel) for instance in self.loaded_instances],
            "max_context_length": self.max_context_length,
            "format": self.format,
        }
        if self.type == "llm":
            if self.lists_capabilities:
                body["capabilities"] = self._capabilities(reasoning)
            body["description"] = self.description
        if self.variants:
            body["variants"] = list(self.variants)
            body["selected_variant"] = self.variants[0]
        return body


@dataclass
class Downloadable:
    """Something `POST /api/v1/models/download` accepts: a catalog id or an exact Hugging Face URL."""

    source: str
    entry: ModelEntry
    # Quantizations a Hugging Face repo offers; the `quantization` field is only valid for HF URLs.
    quantizations: list[str] = field(default_factory=lambda: list[str]())

    @property
    def is_huggingface(self) -> bool:
        return self.source.startswith("https://huggingface.co/")


def _number(value: float | None) -> float | int | None:
    # JSON from LM Studio writes whole numbers without a fraction ("bits_per_weight": 4).
    if value is not None and float(value).is_integer():
        return int(value)
    return value


def gemma() -> ModelEntry:
    return ModelEntry(
        key="google/gemma-4-26b-a4b",
        type="llm",
        publisher="google",
        display_name="Gemma 4 26B A4B",
        architecture="gemma4",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=17990911801,
        params_string="26B-A4B",
        max_context_length=262144,
        vision=True,
        trained_for_tool_use=True,
        reasoning=Reasoning(allowed_options=["off", "on"], default="on"),
        variants=["google/gemma-4-26b-a4b@q4_k_m", "google/gemma-4-26b-a4b@q8_0"],
        num_experts=8,
        loaded_instances=[LoadedInstance(id="google/gemma-4-26b-a4b", context_length=4096, num_experts=8)],
    )


def qwen() -> ModelEntry:
    return ModelEntry(
        key="qwen/qwen3-4b",
        type="llm",
        publisher="qwen",
        display_name="Qwen3 4B",
        architecture="qwen3",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=2497280000,
        params_string="4B",
        max_context_length=32768,
        trained_for_tool_use=True,
    )


def deepseek() -> ModelEntry:
    return ModelEntry(
        key="deepseek-r1",
        type="llm",
        publisher="deepseek",
        display_name="DeepSeek R1",
        architecture="deepseek",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=40492610355,
        params_string="671B",
        max_context_length=131072,
        trained_for_tool_use=True,
        reasoning=Reasoning(allowed_options=["on"], default="on"),
    )


def qwen_xhigh() -> ModelEntry:
    """A model whose reasoning levels include "xhigh", its default: as a live LM Studio 0.4.21 listed one."""
    return ModelEntry(
        key="qwen/qwen3.8-27b",
        type="llm",
        publisher="qwen",
        display_name="Qwen3.8 27B",
        architecture="qwen35",
        quantization="4bit",
        bits_per_weight=4,
        size_bytes=22810000000,
        params_string="27B",
        max_context_length=262144,
        format="mlx",
        trained_for_tool_use=True,
        reasoning=Reasoning(allowed_options=["off", "low", "medium", "xhigh", "on"], default="xhigh"),
    )


def nomic_embed() -> ModelEntry:
    return ModelEntry(
        key="text-embedding-nomic-embed-text-v1.5",
        type="embedding",
        publisher="nomic-ai",
        display_name="Nomic Embed Text v1.5",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=84106624,
        params_string=None,
        max_context_length=2048,
        default_context_length=2048,
    )


def granite() -> ModelEntry:
    return ModelEntry(
        key="ibm/granite-4-micro",
        type="llm",
        publisher="ibm",
        display_name="Granite 4 Micro",
        architecture="granite",
        quantization="Q4_K_M",
        bits_per_weight=4,
        size_bytes=2279145003,
        params_string="3B",
        max_context_length=131072,
        trained_for_tool_use=True,
    )


def gpt_oss() -> ModelEntry:
    return ModelEntry(
        key="openai/gpt-oss-20b",
        type="llm",
        publisher="openai",
        display_name="gpt-oss 20B",
        architecture="gpt-oss",
        quantization="MXFP4",
        bits_per_weight=4,
        size_bytes=12109565568,
        params_string="20B",
        max_context_length=131072,
        trained_for_tool_use=True,
        reasoning=Reasoning(allowed_options=["low", "medium", "high"], default="medium"),
        num_experts=4,
    )


def default_catalog() -> list[ModelEntry]:
    """The downloaded models a fresh simulator lists; only Gemma is loaded."""
    return [gemma(), qwen(), deepseek(), nomic_embed(), qwen_xhigh()]


def default_downloadable() -> list[Downloadable]:
    return [
        Downloadable(source="ibm/granite-4-micro", entry=granite()),
        Downloadable(source="openai/gpt-oss-20b", entry=gpt_oss()),
        Downloadable(
            source="https://huggingface.co/lmstudio-community/gpt-oss-20b-GGUF",
            entry=gpt_oss(),
            quantizations=["MXFP4", "Q8_0"],
        ),
    ]


def synthetic_models(count: int) -> list[ModelEntry]:
    """Filler models for scale tests: plain, unloaded LLMs with predictable keys."""
    return [
        ModelEntry(
            key=f"synthetic/model-{index:04d}",
            type="llm",
            publisher="synthetic",
            display_name=f"Synthetic Model {index:04d}",
            architecture="llama",
            quantization="Q4_K_M",
            bits_per_weight=4,
            size_bytes=1_000_000_000 + index * 1_000_003,
            params_string="1B",
            max_context_length=8192,
            trained_for_tool_use=index % 2 == 0,
        )
        for index in range(1, count + 1)
    ]
