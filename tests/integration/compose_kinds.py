"""The Compose kinds a lab test runs under: v2 always; v1 for the slow repeats of what
v2 already proved is sampled (one of the group a run, rotating daily: tests/conftest.py),
while S1-S6 (test_diagnose, test_demo), the ownership and the compose tests run under
both every time."""

from __future__ import annotations

import pytest

V1_REPEAT = pytest.param("v1", marks=pytest.mark.sampled("compose-v1-repeats", keep=1))
V2_AND_SAMPLED_V1 = ["v2", V1_REPEAT]

__all__ = ["V1_REPEAT", "V2_AND_SAMPLED_V1"]
