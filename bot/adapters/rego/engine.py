"""`PolicyEngine` on regopy: Rego evaluated in process by rego-cpp, with no network and no
file access (regopy's interpreter has neither `http.send` nor a file system; its built-ins
work on the input and the policies alone).

Each evaluation builds one interpreter: the policy files are added as modules (a file that
does not compile raises `PolicyError` naming it and the line, from the offset rego-cpp
reports), the stack's document is the input, and each query's value is read from the JSON
rego-cpp answers. The library's own printing of errors is switched off: the error reaches
the comment through `PolicyError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from regopy import Interpreter, LogLevel, RegoError

from bot.core.policy_code import PolicyError
from bot.core.ports import PolicySource

_ERROR = re.compile(r"\(error \d+:(?P<file>[^|\s]+)\|(?P<offset>\d+)\|\d+")
_MESSAGE = re.compile(r"\(errormsg \d+:(?P<message>[^)]*)\)")


class RegoEngine:
    """Evaluates Rego with regopy (see the module docstring)."""

    def evaluate(
        self, files: Sequence[PolicySource], queries: Sequence[str], document: Mapping[str, Any]
    ) -> Mapping[str, Any]:
        interpreter = Interpreter()
        interpreter.log_level = LogLevel.NONE
        for policy in files:
            try:
                interpreter.add_module(policy.path, policy.text)
            except RegoError as exc:
                raise _located(str(exc), files) from None
        interpreter.set_input(json.loads(json.dumps(document, default=str)))
        answers: dict[str, Any] = {}
        for query in queries:
            try:
                output = str(interpreter.query(query)).strip()
            except RegoError as exc:
                raise _located(str(exc), files) from None
            if output == "undefined" or not output:
                continue
            expressions = json.loads(output).get("expressions") or []
            if expressions:
                answers[query] = expressions[0]
        return answers


def _located(text: str, files: Sequence[PolicySource]) -> PolicyError:
    """rego-cpp's error (an S-expression naming the file and a character offset) as a
    PolicyError at `file:line`."""
    where = _ERROR.search(text)
    said = _MESSAGE.search(text)
    message = said.group("message").strip() if said else (text.strip().splitlines() or ["cannot compile"])[0]
    if where is None:
        return PolicyError("", message)
    name, offset = where.group("file"), int(where.group("offset"))
    source = next((f.text for f in files if f.path == name), "")
    line = source.count("\n", 0, offset) + 1 if source else 0
    return PolicyError(f"{name}:{line}" if line else name, message)
