"""The error tree drawn in ``pixverse_async._exceptions``'s docstring is complete and true.

Every exception class defined anywhere in the package (the emulator aside: it is a test
server, not the SDK) is drawn, under the parent it really has, with the module it lives in
when that is not ``_exceptions`` and with the builtin it also derives from; and every one
derives from :class:`PixVerseError`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pixverse_async
from pixverse_async import _exceptions
from pixverse_async._exceptions import PixVerseError

#: exception classes that legitimately stay out of the tree, with the reason
OUTSIDE_THE_TREE: dict[str, str] = {
    # private to the command line: raised and caught inside cli.py, where it becomes a message
    # on stderr and an exit code; no caller of the package ever sees it
    "pixverse_async.cli._CliError": "private to the CLI, never escapes it",
}

#: modules not walked: the emulator is a test server, and __main__ runs the CLI when imported
SKIPPED = ("pixverse_async.emulator", "pixverse_async.__main__")

_DOC = _exceptions.__doc__ or ""
_NODE = re.compile(r"^(?P<prefix>[ │├└─]*)(?P<name>[A-Z]\w*(?:Error|Exception))\b(?P<rest>.*)$")


def _exception_classes() -> dict[str, type[BaseException]]:
    """``module.Name`` -> class, for every exception class defined in the package."""
    found: dict[str, type[BaseException]] = {}
    modules = pkgutil.walk_packages(pixverse_async.__path__, prefix="pixverse_async.")
    names = ["pixverse_async", *(m.name for m in modules)]
    for module_name in names:
        if module_name.startswith(SKIPPED):
            continue
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == module_name:
                found[f"{module_name}.{cls.__qualname__}"] = cls
    return found


def _drawing() -> dict[str, tuple[str | None, str]]:
    """Class name -> (its parent in the drawing, the rest of its line)."""
    block = _DOC.split("::", 1)[1]
    out: dict[str, tuple[str | None, str]] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = _NODE.match(line)
        if not match:
            continue
        depth, name = len(match["prefix"]), match["name"]
        while stack and stack[-1][0] >= depth:
            stack.pop()
        assert name not in out, f"{name} is drawn twice"
        out[name] = (stack[-1][1] if stack else None, match["rest"])
        stack.append((depth, name))
    return out


def _builtin_bases(cls: type[BaseException]) -> set[type[BaseException]]:
    """The most derived builtin exceptions in ``cls``'s MRO, other than Exception itself."""
    builtins = {
        b
        for b in cls.__mro__
        if b.__module__ == "builtins" and b not in (BaseException, Exception, object)
    }
    return {b for b in builtins if not any(o is not b and issubclass(o, b) for o in builtins)}


def test_the_walk_finds_the_errors_defined_outside_exceptions() -> None:
    found = {name.rsplit(".", 1)[1] for name in _exception_classes()}
    assert {
        "PixVerseError",
        "BatchValidationError",
        "BatchStoppedError",
        "JournalError",
        "JournalMismatchError",
        "JournalCorruptError",
        "WebhookVerificationError",
    } <= found


def test_every_error_is_a_pixverse_error_or_listed() -> None:
    classes = _exception_classes()
    for name, cls in classes.items():
        if name in OUTSIDE_THE_TREE:
            assert not issubclass(cls, PixVerseError), f"{name} is in the tree now: unlist it"
            continue
        assert issubclass(cls, PixVerseError), f"{name} does not derive from PixVerseError"
    assert set(OUTSIDE_THE_TREE) <= set(classes), "a listed exception no longer exists"


def test_every_error_is_drawn_with_its_parent_module_and_builtins() -> None:
    drawn = _drawing()
    for name, cls in _exception_classes().items():
        if name in OUTSIDE_THE_TREE:
            assert cls.__name__ in _DOC, f"{name} is not mentioned in the docstring"
            continue
        assert cls.__name__ in drawn, f"{name} is missing from the error tree"
        parent, rest = drawn[cls.__name__]
        if cls is PixVerseError:
            assert parent is None
        else:
            (base,) = [b for b in cls.__bases__ if issubclass(b, PixVerseError)]
            assert parent == base.__name__, f"{cls.__name__} is drawn under {parent}"
        module = cls.__module__
        if module != _exceptions.__name__:
            tag = f"[{module.rsplit('.', 1)[1]}.py]"
            assert rest.startswith(f" {tag}"), f"{cls.__name__} lacks its module tag {tag}"
        else:
            assert not rest.lstrip().startswith("["), f"{cls.__name__} has a module tag"
        for builtin in _builtin_bases(cls):
            assert f"({builtin.__name__})" in rest, f"{cls.__name__} lacks ({builtin.__name__})"


def test_nothing_is_drawn_that_does_not_exist() -> None:
    names = {cls.__name__ for cls in _exception_classes().values()}
    assert set(_drawing()) <= names
