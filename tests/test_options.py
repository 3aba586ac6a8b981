"""RunOptions: checked on construction, and the same object from every command's flags."""

from __future__ import annotations

import pytest

from toobig.cli import _run_options, parser
from toobig.config import ConfigError
from toobig.options import RunOptions, require_options


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"batch_shards": 0}, "--batch-shards must be an integer >= 1, got 0"),
        ({"batch_shards": True}, "--batch-shards must be an integer >= 1, got True"),
        ({"batch_shards": 2.0}, "--batch-shards must be an integer >= 1, got 2.0"),
        ({"max_members": 0}, "--max-members must be an integer >= 1, got 0"),
        ({"compile": "no"}, "RunOptions.compile must be True or False, got 'no'"),
        ({"resume": 1}, "RunOptions.resume must be True or False, got 1"),
        ({"device": None}, "--device must be a name"),
    ],
)
def test_bad_values_are_refused_in_one_line(fields, message):
    with pytest.raises(ConfigError) as info:
        RunOptions(**fields)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_require_options_names_what_it_got():
    assert require_options(RunOptions()) == RunOptions()
    with pytest.raises(TypeError, match="options must be a toobig.RunOptions, got str 'cpu'"):
        require_options("cpu")


FLAGS = ["--device", "cpu", "--compile", "--batch-shards", "3", "--max-members", "4", "--tensorboard"]
EXPECTED = RunOptions(device="cpu", compile=True, batch_shards=3, max_members=4, tensorboard=True)


@pytest.mark.parametrize("command", [["train"], ["sweep", "grid.toml"], ["reproduce"]])
def test_every_training_command_reads_the_same_flags_into_one_options_object(command):
    assert _run_options(parser().parse_args([*command, *FLAGS])) == EXPECTED
    assert _run_options(parser().parse_args(command)) == RunOptions()
