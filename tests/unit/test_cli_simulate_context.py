"""The request context `dockyard iam simulate` builds from its options."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
import pytest

from dockyard import clock
from dockyard.cli.simulate_context import simulation_context


def test_options_become_condition_keys() -> None:
    ctx = simulation_context(
        ["dockyard:Colour=green", "aws:PrincipalTag/team=a", "aws:PrincipalTag/team=b"],
        "10.1.2.3",
        True,
        ["team=blue", "env=prod"],
    )
    assert ctx["aws:SourceIp"] == "10.1.2.3" and ctx["aws:SecureTransport"] is True
    assert ctx["aws:RequestTag/team"] == "blue" and ctx["aws:TagKeys"] == ["team", "env"]
    assert ctx["dockyard:Colour"] == "green" and ctx["aws:PrincipalTag/team"] == ["a", "b"]


def test_defaults_and_the_clock() -> None:
    clock.set_offset(3600)
    try:
        ctx = simulation_context([], None, False, [])
    finally:
        clock.set_offset(0)
    assert ctx["aws:SecureTransport"] is False and "aws:SourceIp" not in ctx and "aws:TagKeys" not in ctx
    moment = ctx["aws:CurrentTime"]
    assert isinstance(moment, datetime) and moment - datetime.now(UTC) > timedelta(minutes=59)


def test_a_pair_needs_an_equals_sign() -> None:
    with pytest.raises(click.BadParameter, match="KEY=VALUE"):
        simulation_context(["aws:SourceIp"], None, False, [])
