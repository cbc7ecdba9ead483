"""A runtime written outside Shipmate, as any package would write one: `Local` resources are
files under a directory the workspace names (`LOCAL_ROOT` in its context).

`runtime` is the `shipmate.runtimes` plug-in and `module` a `shipmate.modules` module that
generates `Local` resources from an app's accessories; the tests register both through a real
entry point (`tests/app/test_outside_runtime.py`). Nothing here is imported by Shipmate.
"""
