"""Typed parameters from what a person typed: one ``UsageError`` naming the key, or the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from bot.inventory.config.loader import describe_validation_error
from bot.model.errors import UsageError


def validated(model: type[BaseModel], given: Mapping[str, Any]) -> Any:
    """``model`` from ``given`` (None values left out), or a ``UsageError`` naming the key."""
    accepted = {k: v for k, v in given.items() if v is not None}
    try:
        return model.model_validate(accepted)
    except ValidationError as exc:
        raise UsageError("; ".join(describe_validation_error(exc))) from exc


__all__ = ["validated"]
