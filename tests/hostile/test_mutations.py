"""A deliberately broken promise makes the suite fail.

Each test breaks one promise in the code (monkeypatched, or a mutant of the module built from its
own source with one line changed) and shows that the check meant to guard it notices:

* the first line (the leak scan in verify) fails the build, and
* with that line switched off too, the suite's own assertion (assert_absent, assert_harmless,
  expect_rejected) fails, so a broken promise cannot pass unseen even if the scan were gone.

A mutant whose line can no longer be found fails loudly: the code moved, update the mutation.
"""
from __future__ import annotations

import contextlib
import inspect
import sys
import types

import pytest

from healthsite import masking, render, secrets, verify, write

from .helpers import (BASE_NAME, BASE_SLUG, BASE_SOURCE, OTHER, PROFILE, REF, assert_absent, assert_built,
                      assert_harmless, edit, expect_rejected, snapshot, tokens)
from .test_isolation import ALL_CANARIES, CANARY, FOREIGN_SLUG, foreign_source, with_foreign_account


def _clone(module: types.ModuleType, monkeypatch, swaps) -> types.ModuleType:
    source = inspect.getsource(module)
    for old, new in swaps:
        assert source.count(old) == 1, f"{old!r} is not once in {module.__name__}: the code moved, update this mutation"
        source = source.replace(old, new)
    name = module.__name__ + "_mutant"
    clone = types.ModuleType(name)
    clone.__package__ = module.__package__
    clone.__file__ = module.__file__
    monkeypatch.setitem(sys.modules, name, clone)
    exec(compile(source, module.__file__, "exec"), clone.__dict__)
    return clone


def _install(module: types.ModuleType, clone: types.ModuleType, monkeypatch) -> None:
    """Every healthsite module (the other mutants included) that refers to module, or to a
    function or class of it imported by name, refers to the clone for the rest of the test."""
    for other_name, other in list(sys.modules.items()):
        if not other_name.startswith("healthsite") or other is None or other is clone or other is module:
            continue
        for attr, value in list(vars(other).items()):
            if value is module:
                monkeypatch.setattr(other, attr, clone)
            elif (callable(value) and getattr(value, "__module__", None) == module.__name__
                  and getattr(module, getattr(value, "__name__", ""), None) is value
                  and hasattr(clone, value.__name__)):
                monkeypatch.setattr(other, attr, getattr(clone, value.__name__))


def mutant(module: types.ModuleType, monkeypatch, *swaps: tuple[str, str]) -> types.ModuleType:
    """module, rebuilt from its own source with each (old, new) swapped in, and put in its place."""
    clone = _clone(module, monkeypatch, swaps)
    _install(module, clone, monkeypatch)
    return clone


def has(module_name: str, old: str) -> bool:
    module = sys.modules.get(module_name)
    return module is not None and old in inspect.getsource(module)


def mutate(monkeypatch, candidates: list[tuple[str, str, str]]) -> list[str]:
    """Apply every (module, old, new) whose old text is in that module, all modules at once (a
    mutant of one refers to the mutants of the others); return the modules changed."""
    by_module: dict[str, list[tuple[str, str]]] = {}
    for module_name, old, new in candidates:
        if has(module_name, old):
            by_module.setdefault(module_name, []).append((old, new))
    clones = {name: _clone(sys.modules[name], monkeypatch, swaps) for name, swaps in by_module.items()}
    for name, clone in clones.items():
        _install(sys.modules[name], clone, monkeypatch)
    return sorted(clones)


def replace_everywhere(monkeypatch, original, replacement) -> int:
    """Every healthsite module's name for original now means replacement; how many were found."""
    found = 0
    for name, module in list(sys.modules.items()):
        if name.startswith("healthsite") and module is not None:
            for attr, value in list(vars(module).items()):
                if value is original:
                    monkeypatch.setattr(module, attr, replacement)
                    found += 1
    assert found, f"{original!r} is not used anywhere: the code moved, update this mutation"
    return found


def scan_off(monkeypatch):
    """Switch the leak scan off: what the suite itself checks is all that is left."""
    replace_everywhere(monkeypatch, verify.scan_tree, lambda *args, **kwargs: [])
    replace_everywhere(monkeypatch, verify.shape_leaks, lambda *args, **kwargs: [])  # the per-page half


# ---- masking ----------------------------------------------------------------------------------
def mask_off(monkeypatch):
    replace_everywhere(monkeypatch, masking.mask_ref, lambda ref, prefix: ref)


def test_raw_ref_mask_is_caught_by_the_leak_scan(primed, monkeypatch):
    ws, before = primed
    mask_off(monkeypatch)
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), None, message="raw external account ref", secrets=(REF,))


def test_raw_ref_mask_is_caught_by_the_suite_without_the_scan(ws, monkeypatch):
    mask_off(monkeypatch)
    scan_off(monkeypatch)
    assert_built(ws.build())
    with pytest.raises(AssertionError, match="found in the output"):
        assert_absent(ws.out, [REF])


# ---- the authorized-profile filter ------------------------------------------------------------
# Where "only the authorized profile's sources and accounts" is decided, as the code has moved:
# each line that makes the decision, and the same line without it.
SOURCE_FILTER = [
    ("healthsite.resolve", "mine = [s for s in content.sources if s.model.profile == authorized]",
     "mine = list(content.sources)"),
    ("healthsite.engine", "    if not mine:\n        return result\n", ""),
]
ACCOUNT_FILTER = [
    ("healthsite.resolve", "for a in m.external_accounts if a.profile == authorized)", "for a in m.external_accounts)"),
]


def filter_off(monkeypatch):
    with contextlib.suppress(ImportError):
        import healthsite.engine  # noqa: F401  (where it exists, the filter may live there)
    assert any(has(m, old) for m, old, _ in SOURCE_FILTER), "no source filter found: update SOURCE_FILTER"
    assert any(has(m, old) for m, old, _ in ACCOUNT_FILTER), "no account filter found: update ACCOUNT_FILTER"
    mutate(monkeypatch, SOURCE_FILTER + ACCOUNT_FILTER)


def with_other_profile(ws):
    ws.write(f"sources/{FOREIGN_SLUG}.yaml", foreign_source())
    ws.write(f"sources/{BASE_SLUG}.yaml", with_foreign_account(BASE_SOURCE))


def test_profile_filter_removed_is_caught_by_the_leak_scan(primed, monkeypatch):
    ws, before = primed
    with_other_profile(ws)
    filter_off(monkeypatch)
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), None, message="a name from another profile")


def test_profile_filter_removed_is_caught_by_the_suite_without_the_scan(ws, monkeypatch):
    with_other_profile(ws)
    filter_off(monkeypatch)
    scan_off(monkeypatch)
    assert_built(ws.build())
    with pytest.raises(AssertionError, match="found in the output"):
        assert_absent(ws.out, ALL_CANARIES)


def foreign_source_alone(ws):
    """Another profile's source with no account at all: only its own name and text can leak."""
    text = foreign_source()
    ws.write(f"sources/{FOREIGN_SLUG}.yaml", text[:text.index("external_accounts:")] + f"notes: {CANARY['notes']}\n")


def test_profile_filter_removed_is_caught_by_the_leak_scan_without_accounts(primed, monkeypatch):
    """Only the source's own name and text can give it away: the names the scan exempts (text the
    authorized site shows anyway) must come from the authorized profile's sources alone, not from
    whatever was rendered, or a lost filter would exempt the very names it leaked."""
    ws, before = primed
    foreign_source_alone(ws)
    filter_off(monkeypatch)
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), None, message="a name from another profile")


def test_profile_filter_removed_without_accounts_is_caught_by_the_suite(ws, monkeypatch):
    foreign_source_alone(ws)
    filter_off(monkeypatch)
    scan_off(monkeypatch)
    assert_built(ws.build())
    with pytest.raises(AssertionError, match="found in the output"):
        assert_absent(ws.out, [CANARY["name"], CANARY["notes"]])


def test_the_mutant_filter_is_the_only_change(ws, monkeypatch):
    """Control: the mutant module, with no swap, builds exactly what the real one does."""
    with_other_profile(ws)
    assert_built(ws.build())
    real = snapshot(ws.out)
    changed = mutate(monkeypatch, [(m, old, old) for m, old, _ in SOURCE_FILTER + ACCOUNT_FILTER])
    assert changed
    assert_built(ws.build())
    assert snapshot(ws.out) == real


# ---- the Markdown sanitizer and autoescape ----------------------------------------------------
HOSTILE_NOTES = '<script>alert(1)</script><img src=x onerror=alert(2)> [x](javascript:alert(3))'


def sanitizer_off(monkeypatch):
    monkeypatch.setattr(render.nh3, "clean", lambda html, **kwargs: html)


def autoescape_off(monkeypatch):
    broken = mutant(render, monkeypatch, ("autoescape=True,", "autoescape=False,"))
    monkeypatch.setattr(render, "make_environment", broken.make_environment)


def hostile_notes(ws):
    ws.write(f"sources/{BASE_SLUG}.yaml", edit(BASE_SOURCE, "notes: Plain notes.", f"notes: '{HOSTILE_NOTES}'"))


def hostile_name(ws):
    ws.write(f"sources/{BASE_SLUG}.yaml", edit(BASE_SOURCE, "name: Hostile Base Source",
                                               "name: '<img src=x onerror=alert(1)>'"))


@pytest.mark.parametrize("breakage, content", [(sanitizer_off, hostile_notes), (autoescape_off, hostile_name)],
                         ids=["sanitizer-off", "autoescape-off"])
def test_unsafe_rendering_is_caught_by_the_scan(primed, monkeypatch, breakage, content):
    ws, before = primed
    content(ws)
    breakage(monkeypatch)
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), None, message="active content")


@pytest.mark.parametrize("breakage, content", [(sanitizer_off, hostile_notes), (autoescape_off, hostile_name)],
                         ids=["sanitizer-off", "autoescape-off"])
def test_unsafe_rendering_is_caught_by_the_suite_without_the_scan(ws, monkeypatch, breakage, content):
    content(ws)
    breakage(monkeypatch)
    scan_off(monkeypatch)
    assert_built(ws.build())
    with pytest.raises(AssertionError, match="active content"):
        assert_harmless(ws.out)


# ---- the secret scan of the content -----------------------------------------------------------
def test_value_scan_off_is_still_caught_by_the_raw_text_scan(primed, monkeypatch):
    """Two lines inside load itself: with the per-value check gone, the raw-text pass still finds it."""
    ws, before = primed
    token = tokens("layers")["shopify_shpat"]
    path = ws.write(f"sources/{BASE_SLUG}.yaml", edit(BASE_SOURCE, "notes: Plain notes.", f"notes: {token}"))
    monkeypatch.setattr(secrets, "find_token", lambda text: None)
    result = ws.build()
    expect_rejected(result, before, ws.snapshot(), path, BASE_SOURCE.count("\n"), secrets=(token,))


def test_secret_detection_off_is_caught_by_the_suite(primed, monkeypatch):
    ws, before = primed
    token = tokens("nodetect")["shopify_shpat"]
    path = ws.write(f"sources/{BASE_SLUG}.yaml", edit(BASE_SOURCE, "notes: Plain notes.", f"notes: {token}"))
    monkeypatch.setattr(secrets, "find_token", lambda text: None)
    monkeypatch.setattr(secrets, "find_tokens", lambda text: [])
    result = ws.build()
    with pytest.raises(AssertionError):
        expect_rejected(result, before, ws.snapshot(), path, secrets=(token,))
    with pytest.raises(AssertionError, match="found in the output"):
        assert_absent(ws.out, [token])


# ---- nothing lost -----------------------------------------------------------------------------
def test_staging_left_behind_is_caught_by_the_suite(primed, monkeypatch):
    """A writer that forgets its staging folder on failure: 'nothing beside it' notices."""
    ws, before = primed
    mask_off(monkeypatch)  # any failing build will do: this one fails in the leak scan
    monkeypatch.setattr(write.Staging, "discard", lambda self: None)
    result = ws.build()
    with pytest.raises(AssertionError, match="previous output changed"):
        expect_rejected(result, before, ws.snapshot(), None)


def test_profile_names_in_control_build(ws):
    """Control for the isolation mutants: unbroken, the same content leaks nothing."""
    with_other_profile(ws)
    assert_built(ws.build())
    assert_absent(ws.out, ALL_CANARIES + [REF])
    assert_harmless(ws.out, visible=(BASE_NAME,))
    assert PROFILE != OTHER
