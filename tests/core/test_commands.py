"""The comment grammar: commands, filters, confirmations, typos and things to ignore."""

from __future__ import annotations

import shlex
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.commands import MAX_COMMENT_CHARS, Command, Ignore, Reply, Verb, parse
from bot.core.render.comment import code
from tests.golden import assert_golden

GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "golden" / "bot"


def golden(name: str, text: str) -> None:
    assert_golden(GOLDEN / name, text)


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


_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)


@given(verb=st.sampled_from(["preview", "apply", "unlock", "help", "aply", "destroy"]),
       project=st.none() | _NAMES, stack=st.none() | _NAMES, padding=st.sampled_from(["", " ", "  \n"]),
       language=st.sampled_from(["", "text", "shell", "console", "c++", "sh-session"]))
def test_a_command_in_backticks_or_a_fenced_block_reads_as_the_bare_command(verb, project, stack, padding,
                                                                             language):
    bare = " ".join([f"/{verb}", *([f"-p {project}"] if project else []), *([f"-s {stack}"] if stack else [])])
    expected = parse(bare)
    assert not isinstance(expected, Ignore)
    assert parse(f"{padding}`{bare}`{padding}") == expected
    assert parse(f"``{bare}``") == expected
    assert parse(f"```{language}\n{bare}\n```{padding}") == expected
    assert parse(f"{padding}````{language}\n  {bare}\n````") == expected


def test_a_fenced_block_is_still_one_command_alone():
    assert isinstance(parse("```text\n/apply\nand more\n```"), Ignore)
    assert isinstance(parse("```text\nnot a command\n```"), Ignore)
    assert isinstance(parse("```\n/apply\n```\n```\n/destroy -p a -s b\n```"), Ignore)
    assert isinstance(parse("```/apply text\n/apply\n```"), Ignore)


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


class _Unread(str):
    """A comment body whose text may not be read: only its length may be asked."""

    def __getattribute__(self, name: str) -> object:
        raise AssertionError(f"the parser read the whole comment (str.{name})")

    def __getitem__(self, key: object) -> str:
        raise AssertionError("the parser read the whole comment (a slice)")

    def __iter__(self):  # type: ignore[override]
        raise AssertionError("the parser read the whole comment (iteration)")


def test_a_huge_comment_is_not_read_at_all():
    # A 10 MB comment held a worker for 22 minutes: a command is one short line, so a comment
    # longer than MAX_COMMENT_CHARS is ignored on its length alone, whatever it holds.
    for text in ("/apply " + "x" * 10_000_000, "/" + "a" * 10_000_000, "/apply\n" + " " * 10_000_000,
                 " " * 10_000_000 + "/apply", "`" * 10_000_000):
        assert parse(_Unread(text)) == Ignore(f"longer than {MAX_COMMENT_CHARS} characters: not a command")
    assert parse(" " * (MAX_COMMENT_CHARS - 6) + "/apply") == Command(Verb.APPLY)


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet=st.sampled_from("/ap ly-`\"'=\n\\x"), min_size=MAX_COMMENT_CHARS - 64,
               max_size=MAX_COMMENT_CHARS))
def test_comments_up_to_the_limit_parse_without_blowing_up(body):
    assert isinstance(parse(body), Command | Reply | Ignore)


HOSTILE = [
    "/aply",
    "/apply --f`oo",
    "/apply -p `x`",
    "/apply -p ``x``y",
    "/apply --proj=<img/src=x>",
    "/apply -p @everyone",
    "/apply -p [click](https://evil.example)",
    "/apply --" + "x" * 200,
    "/preview -s",
    "/destroy -p shop -s dev --confirm '**bold**'",
    "/unlock -p shop",
    '/apply -p "unterminated',
]


def test_replies_quote_what_the_commenter_wrote():
    # Everything a reply repeats from the comment is inline code, never Markdown.
    out = []
    for body in HOSTILE:
        reply = parse(body)
        assert isinstance(reply, Reply), body
        out.extend([f"### {code(body[:100])}", "", reply.text.split("\n\n", 1)[0], ""])
    text = "\n".join(out)
    for raw in ("<img/src=x>", "@everyone", "[click](https://evil.example)", "**bold**"):
        assert f"`{raw}`" in text or f"`--proj={raw}`" in text, raw
    golden("command-replies.md", text)


def test_replies_name_the_verb_whose_permission_they_need():
    assert parse("/apply --force").verb is Verb.APPLY  # type: ignore[union-attr]
    assert parse("/destroy -p a -s b").verb is Verb.DESTROY  # type: ignore[union-attr]
    assert parse("/aply").verb is None  # type: ignore[union-attr]


def test_an_apply_may_override_failing_policies_with_a_reason():
    assert parse('/apply --override-policy "hotfix for INC-42"') == Command(
        Verb.APPLY, override_reason="hotfix for INC-42")
    assert parse("/apply -p shop --override-policy=urgent") == Command(Verb.APPLY, "shop", override_reason="urgent")
    for bad in ('/apply --override-policy ""', "/apply --override-policy", "/apply --override-policy " + "x" * 201):
        reply = parse(bad)
        assert isinstance(reply, Reply) and reply.verb is Verb.APPLY
    assert isinstance(parse("/preview --override-policy why"), Reply)  # only /apply takes it


@given(st.text(min_size=1, max_size=200).filter(lambda t: t.strip() and t.isprintable()))
def test_any_one_line_reason_is_kept_as_said(reason):
    parsed = parse("/apply --override-policy " + shlex.quote(reason))
    assert isinstance(parsed, Command) and parsed.override_reason == reason.strip()


def test_apply_no_wait_is_a_switch() -> None:
    from bot.core.commands import Command, Reply, Verb, parse

    assert parse("/apply --no-wait") == Command(Verb.APPLY, no_wait=True)
    assert parse("/apply -p shop --no-wait -s dev") == Command(Verb.APPLY, "shop", "dev", no_wait=True)
    assert parse("/apply") == Command(Verb.APPLY)
    refused = parse("/apply --no-wait=yes")
    assert isinstance(refused, Reply) and "`--no-wait` takes no value." in refused.text
    assert isinstance(parse("/preview --no-wait"), Reply)
