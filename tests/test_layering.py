"""Tier 1: the layers import only downward, and no module imports itself back through others.

sparklio_common  <-  resources  <-  sparklio_pipelines.campaigns  <-  sparklio_pipelines.defs, sensors
sparklio_common  <-  sparklio_pipelines.content (pure: never dagster, never a resource)
Imports inside functions count too: a cycle hidden in a function is still a cycle.
"""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("sparklio_common", "resources", "sparklio_pipelines", "sensors")

# layer prefix -> prefixes it must never import
FORBIDDEN = {
    "sparklio_common": ("resources", "sparklio_pipelines", "sensors", "dagster"),
    "resources": ("sparklio_pipelines", "sensors"),
    "sparklio_pipelines.content": ("dagster", "dagster_aws", "dagster_celery", "resources", "sensors",
                                   "sparklio_pipelines.defs", "sparklio_pipelines.campaigns"),
    "sparklio_pipelines.campaigns": ("dagster", "sparklio_pipelines.defs", "sensors"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def product_modules() -> dict[str, set[str]]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            modules[module_name(path)] = imports_of(path)
    return modules


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_layers_import_only_downward():
    problems = []
    for module, imported in sorted(product_modules().items()):
        for layer, banned in FORBIDDEN.items():
            if within(module, layer):
                problems += [f"{module} imports {name}" for name in sorted(imported)
                             if any(within(name, b) for b in banned)]
    assert not problems, "\n".join(problems)


def test_no_import_cycle_between_modules():
    modules = product_modules()
    graph = {m: {i for i in imported if i in modules and i != m} for m, imported in modules.items()}
    # a package's __init__ importing its own submodules is how packages work, not a cycle
    graph = {m: {i for i in deps if not within(i, m)} for m, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


def test_only_the_compatibility_package_imports_private_dagster():
    offenders = sorted(m for m, imported in product_modules().items()
                       if any(within(i, "dagster._") or i.startswith("dagster._") for i in imported)
                       and not within(m, "sparklio_pipelines.defs.dagster_compat"))
    assert not offenders, offenders
