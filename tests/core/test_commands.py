"""The comment grammar: commands, filters, confirmations, typos and things to ignore."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.core.commands import Command, Ignore, Reply, Verb, parse


def test_plain_commands():
    assert parse("/preview") == Command(Verb.PREVIEW)
    assert parse("/apply") == Command(Verb.APPLY)
    assert parse("/unlock") == Command(Verb.UNLOCK)
    assert parse("/help") == Command(Verb.HELP)


def test_filters_short_long_and_inline():
    assert parse("/apply -p shop -s dev") == Command(Verb.APPLY, "shop", "dev")
    assert parse("/preview --project=shop --stack prod") == Command(Verb.PREVIEW, "shop", "prod")


def test_surrounding_backticks_whitespace_and_trailing_blank_lines():
    assert parse("  `/apply -p shop`  \n\n") == Command(Verb.APPLY, "shop")


def test_command_must_be_alone():
    assert isinstance(parse("/apply\nplease"), Ignore)
    assert isinstance(parse("I think we should /apply"), Ignore)
    assert isinstance(parse("> /apply\n\nlooks good"), Ignore)


def test_destroy_needs_matching_confirmation():
    ok = parse("/destroy -p shop -s dev --confirm shop/dev")
    assert ok == Command(Verb.DESTROY, "shop", "dev", "shop/dev")
    missing = parse("/destroy -p shop -s dev")
    assert isinstance(missing, Reply) and "--confirm shop/dev" in missing.text
    wrong = parse("/destroy -p shop -s dev --confirm shop/prod")
    assert isinstance(wrong, Reply) and "--confirm shop/dev" in wrong.text
    assert isinstance(parse("/destroy --confirm shop/dev"), Reply)


def test_typos_get_a_suggestion_unrelated_slash_words_are_ignored():
    reply = parse("/aply -p shop")
    assert isinstance(reply, Reply) and "Did you mean `/apply`?" in reply.text
    assert isinstance(parse("/assign @someone"), Ignore)


def test_bad_flags_and_values_get_usage():
    reply = parse("/apply --projetc shop")
    assert isinstance(reply, Reply) and "Did you mean `--project`?" in reply.text
    assert isinstance(parse("/apply -p"), Reply)
    assert isinstance(parse("/apply -p ../etc"), Reply)
    assert isinstance(parse("/unlock -p shop"), Reply)
    assert isinstance(parse('/apply -p "unterminated'), Reply)
    assert "Usage" in parse("/apply --help").text  # type: ignore[union-attr]


def test_filters_select_stacks():
    command = Command(Verb.APPLY, project="shop")
    assert command.matches("shop", "dev") and not command.matches("blog", "dev")
    assert Command(Verb.APPLY).matches("any", "thing")


@given(st.text(max_size=200))
def test_parse_never_raises(body):
    assert isinstance(parse(body), Command | Reply | Ignore)
