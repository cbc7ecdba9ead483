"""Why a command or a preview does not run: the reasons quoted after
"**`/apply` was not run** (requested by @alice):" (`bot.core.render.results.refusal`) and in a
preview that cannot start. Branch names and errors can carry Markdown, so they are inline
code or fenced."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.render.comment import code, fenced


def invalid_policy(branch: str, error: str) -> str:
    """No command can be authorised: shipmate.yaml on the policy branch is invalid."""
    return (f"shipmate.yaml on {code(branch)} is invalid, so no command can be authorised:\n"
            + "\n".join(fenced(error)))


def invalid_policy_preview(branch: str, error: str) -> str:
    """The preview's error when shipmate.yaml on the policy branch is invalid."""
    return f"shipmate.yaml on {code(branch)} is invalid, so nothing can be previewed:\n{error}"


def applies_on_merge_only(apply: str, branch: str) -> str:
    """`/apply` in a repository whose policy applies on merge only."""
    return (f"this repository applies on merge only (`apply: {apply}` in shipmate.yaml "
            f"on {code(branch)}); merge the pull request to apply it.")


def unreadable_config(sha: str, error: str) -> str:
    """The pull request's configuration at `sha` cannot be read."""
    return f"the configuration at {sha[:7]} cannot be read:\n" + "\n".join(fenced(error))


def no_matching_stack(changed: Iterable[str]) -> str:
    """The command names no stack the pull request changes (`changed`: project/stack names)."""
    names = ", ".join(f"`{name}`" for name in changed) or "none"
    return f"no stack changed by this pull request matches the command (stacks changed: {names})."


def no_such_stack(project: str, stack: str, base: str) -> str:
    """`/destroy` names a stack neither the pull request nor its base branch has."""
    return f"there is no stack `{project}/{stack}` in this pull request or on {code(base)}."


def kept_locks(keys: Iterable[str]) -> str:
    """The footer of an `/apply` result: the locks the pull request keeps."""
    held = ", ".join(f"`{k}`" for k in sorted(set(keys)))
    return (f"This pull request keeps the locks of {held} "
            "until it is merged or closed; comment `/unlock` to release them sooner.")


def no_preview(sha: str) -> str:
    """`/apply` with no preview recorded for the head: approvals pin to a preview."""
    return (f"no preview of the head ({sha[:7]}) is recorded, so no approval can be for what "
            "`/apply` would do: comment `/preview` first.")


MOVED = {
    "live": "the live state changed since the preview (someone changed the objects)",
    "spec": "the generated Spec is not the one previewed",
    "changes": "what it would change is not what was previewed",
    "commit": "the preview was of another commit",
}


def stale_check_run(clicked: str, head: str) -> str:
    """An Apply button clicked on a check run of a commit that is no longer the head."""
    return (f"that check run is for commit `{clicked[:7]}`, and the pull request's head is now `{head[:7]}`; "
            "use the Apply button of the head's check run, or comment /apply")


def preview_moved(parts: Iterable[str], merged: bool = False) -> str:
    """A stack `/apply` (or, `merged`, the apply of a merge) stopped before any change: its
    fingerprint is not the one approved (`parts`: bot.core.fingerprint's names of what
    differs; empty: never previewed)."""
    why = [MOVED[p] for p in parts if p in MOVED]
    if merged:
        return ("not applied, nothing was changed: "
                + ("; ".join(why) if why else "the merged head's preview recorded no fingerprint of this stack")
                + ". The pull request's approvals were for its last preview: apply the stack with a new "
                "pull request (or `shipmate apply`).")
    if not why:
        return ("not applied: this stack was not in the preview recorded for the head; "
                "comment `/preview` first.")
    return ("not applied, nothing was changed: " + "; ".join(why) + ". The preview comment now "
            "shows the new difference; approvals given before it no longer count for this stack: "
            "approve again, then comment `/apply`.")


def policy_held(failures: Iterable[str], error: str | None = None) -> str:
    """An apply the repository's policies hold back (nothing was changed)."""
    if error is not None:
        return ("not applied, nothing was changed: the repository's policies could not be evaluated "
                f"({error}); fix them on the policy branch.")
    said = "; ".join(failures)
    return f"not applied, nothing was changed: the repository's policies fail this stack: {said}."
