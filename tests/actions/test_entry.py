"""The Action entry point's own contract: inputs, events, outputs and error annotations."""

from __future__ import annotations

import json

import yaml

from actions.__main__ import COMMANDS, main
from tests.conftest import ROOT


def run(tmp_path, capsys, **env):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"full_name": "acme/config"}}))
    base = {"GITHUB_EVENT_NAME": "push", "GITHUB_EVENT_PATH": str(event), "RUNNER_TEMP": str(tmp_path)}
    code = main({**base, **env})
    return code, capsys.readouterr().out


def test_unknown_command_is_an_error_annotation(tmp_path, capsys):
    code, out = run(tmp_path, capsys, INPUT_COMMAND="deploy")
    assert code == 2 and out.startswith("::error title=Shipmate::") and "'deploy' is not one of" in out


def test_commands_are_refused_on_the_wrong_event(tmp_path, capsys):
    code, out = run(tmp_path, capsys, INPUT_COMMAND="preview")
    assert code == 2 and "preview runs on pull_request events, not push" in out


def test_missing_runner_variables_and_token_are_named(tmp_path, capsys):
    assert main({"INPUT_COMMAND": "auto"}) == 2
    assert "GITHUB_EVENT_NAME" in capsys.readouterr().out
    code, out = run(tmp_path, capsys, INPUT_COMMAND="auto")
    assert code == 2 and "github-token" in out


def test_bad_concurrency_input(tmp_path, capsys):
    code, out = run(tmp_path, capsys, INPUT_COMMAND="auto", INPUT_CONCURRENCY="many",
                    GITHUB_TOKEN="t", GITHUB_API_URL="http://127.0.0.1:9/api/v3")
    assert code == 2 and "concurrency" in out


def test_action_yml_declares_what_the_entry_point_reads():
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert set(action["inputs"]) >= {"command", "stacks", "github-token", "backend-branch", "concurrency"}
    assert set(action["outputs"]) == {"changed-stacks", "creates", "updates", "deletes", "release-revisions"}
    described = action["inputs"]["command"]["description"]
    assert all(command in described for command in COMMANDS)
    step_env = next(step for step in action["runs"]["steps"] if step.get("id") == "run")["env"]
    assert {"INPUT_COMMAND", "INPUT_STACKS", "INPUT_BACKEND_BRANCH", "INPUT_CONCURRENCY", "GITHUB_TOKEN"} <= set(step_env)
