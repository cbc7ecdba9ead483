"""Changed files → affected stacks."""

from __future__ import annotations

from bot.core.affected import StackRef, affected_stacks

DEV = StackRef("shop/dev", "shop", "dev", "dev")
PROD = StackRef("shop/prod", "shop", "prod", "prod")
BLOG = StackRef("blog/dev", "blog", "dev", "dev")
ALL = [PROD, DEV, BLOG]


def test_nearest_stack_dir():
    assert affected_stacks(["shop/dev/main.yaml"], ALL) == (DEV,)
    assert affected_stacks(["shop/dev/manifests/cm.yaml", "blog/dev/stack.yaml"], ALL) == (BLOG, DEV)


def test_project_file_touches_its_stacks():
    assert affected_stacks(["shop/project.yaml"], ALL) == (DEV, PROD)


def test_workspace_file_touches_stacks_using_it():
    assert affected_stacks(["workspaces/dev.yaml"], ALL) == (BLOG, DEV)


def test_repo_settings_touch_everything_and_docs_nothing():
    assert affected_stacks(["shipmate.yaml"], ALL) == (BLOG, DEV, PROD)
    assert affected_stacks(["README.md", ".github/workflows/ci.yml", "shop/README.md"], ALL) == ()
