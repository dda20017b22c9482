"""The type stubs (bsky_backfill/__init__.pyi) against the module itself: every
public name has an entry, every function's parameters are the stub's (names,
kinds, which have defaults), classes keep their bases, and the package carries
the py.typed marker beside them. A function added without a stub fails here."""
import ast
import inspect
import os
import types

import bsky_backfill

PACKAGE_DIR = os.path.dirname(bsky_backfill.__file__)
STUB = os.path.join(PACKAGE_DIR, "__init__.pyi")


def stub_entries():
    tree = ast.parse(open(STUB).read(), STUB)
    entries = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            entries[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            entries[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    entries[target.id] = node
    return entries


def public_names():
    names = set(bsky_backfill.__all__) | {"__version__"}
    for name, value in vars(bsky_backfill).items():
        if not name.startswith("_") and not isinstance(value, types.ModuleType):
            names.add(name)
    return names


def stub_parameters(fn):
    a = fn.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    out = [(p.arg, "POSITIONAL_OR_KEYWORD", d is not None) for p, d in zip(positional, defaults)]
    if a.vararg:
        out.append((a.vararg.arg, "VAR_POSITIONAL", False))
    out += [(p.arg, "KEYWORD_ONLY", d is not None) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        out.append((a.kwarg.arg, "VAR_KEYWORD", False))
    return out


def runtime_parameters(fn):
    out = []
    for p in inspect.signature(fn).parameters.values():
        kind = "POSITIONAL_OR_KEYWORD" if p.kind == p.POSITIONAL_ONLY else p.kind.name
        out.append((p.name, kind, p.default is not p.empty))
    return out


def test_the_package_is_marked_typed():
    assert os.path.isfile(os.path.join(PACKAGE_DIR, "py.typed")), f"no py.typed in {PACKAGE_DIR}"
    assert os.path.isfile(STUB), f"no __init__.pyi in {PACKAGE_DIR}"


def test_every_public_name_has_a_stub():
    entries = stub_entries()
    missing = sorted(public_names() - set(entries))
    assert not missing, f"{STUB} lacks entries for {missing}: add their signatures there"


def test_the_stubs_all_is_the_modules():
    entries = stub_entries()
    stub_all = ast.literal_eval(entries["__all__"].value)
    assert sorted(stub_all) == sorted(bsky_backfill.__all__)


def test_no_stub_names_something_the_module_lacks():
    extra = sorted(n for n in stub_entries() if not n.startswith("_") and not hasattr(bsky_backfill, n))
    assert not extra, f"{STUB} has entries the module does not define: {extra}"


def public_objects(kind):
    """(name, object, stub node) of each public name whose object passes `kind`."""
    entries = stub_entries()
    return [(n, getattr(bsky_backfill, n), entries[n]) for n in sorted(public_names()) if kind(getattr(bsky_backfill, n))]


def test_function_parameters_match():
    for name, fn, node in public_objects(inspect.isfunction):
        assert isinstance(node, ast.FunctionDef), f"{name} is a function but its stub is not a def"
        assert stub_parameters(node) == runtime_parameters(fn), f"{name}: the stub's parameters differ from the function's"


def test_classes_keep_their_bases():
    for name, cls, node in public_objects(inspect.isclass):
        assert isinstance(node, ast.ClassDef), f"{name} is a class but its stub is not one"
        bases = [b.id for b in node.bases if isinstance(b, ast.Name)]
        assert bases == [cls.__bases__[0].__name__], f"{name}: stub bases {bases}, runtime {cls.__bases__}"
