"""The bodies `rag serve` accepts on /ask and /ingest (pydantic models), their allowed values read
from the retrieval registry and the configuration when a request is validated or the schema made."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rag.config import ANSWER_ENGINES
from rag.retrieval.registry import retrieval_modes


def _choices(schema: dict[str, Any]) -> None:
    """The schema's enums for `retrieval` and `engine`, read when the schema is made: the
    registered retrieval modes (a route registered by a plugin included) and the engines."""
    for name, allowed in (("retrieval", retrieval_modes()), ("engine", ANSWER_ENGINES)):
        schema["properties"][name] = {"anyOf": [{"enum": list(allowed), "type": "string"}, {"type": "null"}],
                                      "default": None, "title": name.title()}


class AskRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra=_choices)

    question: str
    k: int | None = Field(default=None, ge=1, le=100)
    filter: dict[str, Any] | None = None
    retrieval: str | None = None  # a registered mode (rag.retrieval.registry); None: the configured one
    engine: str | None = None  # "reader" or "generator"; None: the configured engine
    adapter: bool | None = None  # False: the base model without its LoRA adapter
    passages: bool = False  # add each source's whole text and the stretch to highlight


    @field_validator("retrieval")
    @classmethod
    def _known_mode(cls, value: str | None) -> str | None:
        if value is not None and value not in retrieval_modes():
            raise ValueError(f"retrieval must be one of {', '.join(retrieval_modes())}; got {value!r}")
        return value

    @field_validator("engine")
    @classmethod
    def _known_engine(cls, value: str | None) -> str | None:
        if value is not None and value not in ANSWER_ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ANSWER_ENGINES)}; got {value!r}")
        return value


class IngestRequest(BaseModel):
    folder: str
    replace: bool = False  # make the folder the index's only root
    label: str | None = None  # the root's label (default: the folder's own, else its name)
