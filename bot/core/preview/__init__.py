"""The preview engine: prior + planned + live → a ChangeSet of Create/Update/Delete/UnChanged.

    from bot.core import preview
    cs = preview.preview(spec, prior_state, {"Kubernetes": k8s, "Terraform": tf},
                         ignore_fields=["metadata.annotations"], project="shop", stack="dev")
    cs = preview.changeset_from(spec, prior_state, live_by_id, dry_run_by_id)

Modules: `model` (values), `normalize` (server fields, ignore-fields, set-like lists),
`fields` (field-level diffs), `engine` (Kusion's three-way rules over the Runtime port).
Secret masking lives in `bot.core.mask`, renderings in `bot.core.render`.
"""

from bot.core.preview.engine import (
    changeset_from,
    preview,
    preview_destroy,
)
from bot.core.preview.fields import diff, sensitive_paths
from bot.core.preview.model import (
    Action,
    ChangeSet,
    ChangeStep,
    Counts,
    DiffKind,
    FieldDiff,
    KeySelector,
    format_path,
    total_counts,
)
from bot.core.preview.normalize import equivalent, normalize_attributes, parse_ignore_fields

# The public names, re-exported for `from bot.core import preview`.
__all__ = [
    "Action",
    "ChangeSet",
    "ChangeStep",
    "Counts",
    "DiffKind",
    "FieldDiff",
    "KeySelector",
    "changeset_from",
    "diff",
    "equivalent",
    "format_path",
    "normalize_attributes",
    "parse_ignore_fields",
    "preview",
    "preview_destroy",
    "sensitive_paths",
    "total_counts",
]
