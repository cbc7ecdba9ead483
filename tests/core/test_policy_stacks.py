"""Rules per stack: permissions per project and workspace, code owners, who may approve."""

from __future__ import annotations

import pytest

from bot.core import codeowners
from bot.core.commands import Verb
from bot.core.config.settings import parse_settings
from bot.core.errors import ConfigError, PolicyDenied
from bot.core.policy import Levels, PullFacts, Review, StackClaim, authorize_stacks

HEAD = "c" * 40
SETTINGS = """\
requirements: {apply: [approved, code_owners]}
permissions:
  apply: write
  projects:
    shop: {destroy: admin}
  workspaces:
    prod: {apply: maintain, approve: maintain}
    dev: {apply: read}
"""


def pull(*approvals: tuple[str, str]) -> PullFacts:
    return PullFacts(7, "dev", HEAD, False, True,
                     tuple(Review(login, "APPROVED", HEAD, permission=perm) for login, perm in approvals))


def test_levels_per_project_and_workspace_only_raise():
    rules = parse_settings("shipmate.yaml", SETTINGS).rules()
    assert rules.projects == (("shop", Levels(destroy="admin")),)
    prod = rules.for_stack("shop", "prod")
    assert (prod.apply_permission, prod.destroy_permission, prod.approve_permission) == ("maintain", "admin", "maintain")
    dev = rules.for_stack("web", "dev")  # read is below the repository's write: write stays
    assert (dev.apply_permission, dev.destroy_permission, dev.approve_permission) == ("write", "maintain", "write")
    assert prod.requirements == ("approved", "code_owners")


def test_bad_levels_are_located():
    with pytest.raises(ConfigError) as err:
        parse_settings("shipmate.yaml", "permissions:\n  workspaces:\n    prod: {apply: boss, merge: write}\n"
                                        "    dev: {}\n")
    text = str(err.value)
    assert "shipmate.yaml:3" in text and "boss" in text and "merge" in text
    assert "permissions.workspaces.dev" in text and "at least one of apply, destroy, approve" in text


def test_a_writer_is_refused_on_prod_naming_the_level():
    rules = parse_settings("shipmate.yaml", SETTINGS).rules()
    claims = (StackClaim("shop", "dev", "dev"), StackClaim("shop", "prod", "prod"))
    with pytest.raises(PolicyDenied) as err:
        authorize_stacks(Verb.APPLY, "wendy", "write", pull(("mia", "maintain")), rules, claims)
    assert str(err.value) == "/apply requirements not met:\n- shop/prod (prod): /apply needs maintain permission; @wendy has write"
    authorize_stacks(Verb.APPLY, "mo", "maintain", pull(("mia", "maintain")), rules, claims)


def test_prod_needs_an_approval_at_its_own_level():
    rules = parse_settings("shipmate.yaml", SETTINGS).rules()
    with pytest.raises(PolicyDenied, match=r"shop/prod \(prod\): needs an approval .* at least maintain"):
        authorize_stacks(Verb.APPLY, "mo", "maintain", pull(("wes", "write")), rules, (StackClaim("shop", "prod", "prod"),))


def test_code_owners_of_each_stack_must_approve_and_are_named():
    rules = parse_settings("shipmate.yaml", "requirements: {apply: [code_owners]}").rules()
    owners = codeowners.parse("CODEOWNERS", "/shop/dev/ @alice\n/shop/prod/ @bob @org/sre\n")
    claims = (StackClaim("shop", "dev", "dev", owners.groups(["shop/dev/main.yaml"])),
              StackClaim("shop", "prod", "prod", owners.groups(["shop/prod/main.yaml"])))
    with pytest.raises(PolicyDenied) as err:
        authorize_stacks(Verb.APPLY, "alice", "write", pull(("alice", "write")), rules, claims)
    assert str(err.value) == ("/apply requirements not met:\n- shop/prod (prod): needs an approval at the "
                              "current head (ccccccc) from @bob or @org/sre, with at least write permission")
    with pytest.raises(PolicyDenied, match="from @bob or @org/sre"):  # bob cannot push: it does not count
        authorize_stacks(Verb.APPLY, "alice", "write", pull(("alice", "write"), ("bob", "read")), rules, claims)
    authorize_stacks(Verb.APPLY, "alice", "write", pull(("alice", "write"), ("bob", "write")), rules, claims)
    authorize_stacks(Verb.APPLY, "alice", "write", pull(("alice", "write"), ("sam", "write")), rules, claims,
                     {"org/sre": ["sam"]})


def test_the_authors_own_approval_never_counts_as_an_owners():
    rules = parse_settings("shipmate.yaml", "requirements: {apply: [code_owners]}").rules()
    claim = StackClaim("shop", "dev", "dev", (("@dev",),))
    with pytest.raises(PolicyDenied, match="from @dev"):
        authorize_stacks(Verb.APPLY, "x", "write", pull(("dev", "admin")), rules, (claim,))
