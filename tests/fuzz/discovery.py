"""What the fuzz suite drives, read from the code so a new URL, form or parameter is covered without
touching the suite:

* every URL pattern of the root URLconf (`urls()`), split into the emulators' wire APIs (their
  views live in `sandbox/<provider>.py`) and every other page;
* for a page, the request parameters its view reads (`request.GET.get("x")`, `getlist`, `[...]`,
  `"x" in request.POST`) and the fields of every form or filter set it binds to the request
  (`SomeForm(request.POST …)`, class-based views' `form_class` / `authentication_form`);
* for an emulator, every name its wire module reads from a body, query or parameter object
  (`body.get("x")`, `params.require("x")`, `order["x"]`, `WIRE["…"]` words included).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import textwrap
from dataclasses import dataclass, field
from functools import cache

from django.urls import URLPattern, URLResolver, get_resolver

EMULATOR_MODULES = {
    "sandbox.payroc",
    "sandbox.usaepay",
    "sandbox.komoju",
    "sandbox.klearly",
    "sandbox.mobilepay",
}
# Always tried besides what a view reads: pagination, redirects and a name nobody reads.
COMMON_NAMES = ("page", "next", "unknown-parameter")


@dataclass(frozen=True)
class Url:
    route: str
    name: str
    pattern: URLPattern = field(compare=False, repr=False)

    @property
    def callback(self):
        return self.pattern.callback

    @property
    def module(self) -> str:
        return inspect.unwrap(self.callback).__module__

    @property
    def provider(self) -> str:
        return self.module.rpartition(".")[2]

    @property
    def converters(self) -> dict:
        return self.pattern.pattern.converters

    @property
    def public(self) -> bool:
        return getattr(self.callback, "access_policy", "").startswith("public")

    @property
    def is_emulator(self) -> bool:
        return self.module in EMULATOR_MODULES


def _walk(patterns, prefix="", namespace=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            yield Url(prefix + str(entry.pattern), f"{namespace}{entry.name}", entry)


def urls() -> list[Url]:
    return list(_walk(get_resolver().url_patterns))


# -- what a page's view reads ------------------------------------------------------------------------


def _is_request_data(node: ast.AST) -> bool:
    """`request.GET`, `request.POST` (or `self.request.GET`)."""
    return isinstance(node, ast.Attribute) and node.attr in ("GET", "POST")


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _function_tree(function) -> tuple[ast.AST, dict]:
    source = textwrap.dedent(inspect.getsource(function))
    return ast.parse(source), function.__globals__


def _resolve(name_node: ast.AST, namespace: dict, tree: ast.AST):
    """The object a Name in the function refers to: a global, or a name imported inside it."""
    if not isinstance(name_node, ast.Name):
        return None
    if name_node.id in namespace:
        return namespace[name_node.id]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (alias.asname or alias.name) == name_node.id:
                    return getattr(importlib.import_module(node.module), alias.name, None)
    return None


def form_names(form_class) -> set[str]:
    """The fields of a Form, ModelForm or django-filter FilterSet class."""
    names = set(getattr(form_class, "base_fields", {}) or {})
    names |= set(getattr(form_class, "base_filters", {}) or {})
    return names


def names_in(tree: ast.AST, namespace: dict) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            # request.GET.get("x"), request.POST.getlist("x")
            if node.func.attr in ("get", "getlist") and _is_request_data(node.func.value):
                if node.args and (name := _string(node.args[0])):
                    names.add(name)
        if isinstance(node, ast.Subscript) and _is_request_data(node.value):
            if name := _string(node.slice):
                names.add(name)
        if isinstance(node, ast.Compare) and any(
            _is_request_data(c) for c in node.comparators
        ):  # "x" in request.GET
            if name := _string(node.left):
                names.add(name)
        if isinstance(node, ast.Call) and any(
            _is_request_data(arg)
            or (isinstance(arg, ast.BoolOp) and any(_is_request_data(v) for v in arg.values))
            for arg in node.args
        ):  # SomeForm(request.POST or None, ...)
            bound = _resolve(node.func, namespace, tree)
            if isinstance(bound, type):
                names |= form_names(bound)
    return names


@cache
def page_parameters(url: Url) -> tuple[str, ...]:
    """Every parameter name the page's view reads, and the fields of the forms it binds."""
    callback = url.callback
    names: set[str] = set(COMMON_NAMES)
    view_class = getattr(callback, "view_class", None)
    if view_class is not None:
        initkwargs = getattr(callback, "view_initkwargs", {})
        for attribute in ("form_class", "authentication_form"):
            form_class = initkwargs.get(attribute) or getattr(view_class, attribute, None)
            if form_class is not None:
                names |= form_names(form_class)
        return tuple(sorted(names))
    function = inspect.unwrap(callback)
    tree, namespace = _function_tree(function)
    names |= names_in(tree, namespace)
    # The module-level helpers the view calls with the request (`_next_url(request, …)`).
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            helper = namespace.get(node.func.id)
            if (
                inspect.isfunction(helper)
                and helper.__module__ == function.__module__
                and any(isinstance(a, ast.Name) and a.id == "request" for a in node.args)
            ):
                names |= names_in(*_function_tree(helper))
    return tuple(sorted(names))


# -- what an emulator reads ------------------------------------------------------------------------


@cache
def wire_names(module_name: str) -> tuple[str, ...]:
    """Every name the wire module reads from a mapping: `x.get("name")`, `x.require("name")`,
    `x["name"]`, with the module's `WIRE` table words resolved to the names they stand for."""
    module = importlib.import_module(module_name)
    tree = ast.parse(inspect.getsource(module))
    wire = getattr(module, "WIRE", {})
    names: set[str] = set()

    def value_of(node):
        text = _string(node)
        if text is not None:
            return text
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.value, ast.Name)
            and node.value.id == "WIRE"
        ):
            key = _string(node.slice)
            return wire.get(key) if key else None
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in ("get", "require", "getlist", "pop") and node.args:
                if (name := value_of(node.args[0])) and name.isidentifier():
                    names.add(name)
        if isinstance(node, ast.Subscript) and not (
            isinstance(node.value, ast.Name) and node.value.id == "WIRE"
        ):
            if (name := value_of(node.slice)) and name.isidentifier():
                names.add(name)
    return tuple(sorted(names))
