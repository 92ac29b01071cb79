"""ComfyUI workflows as version-controlled API-format JSON, plus the table that binds named parameters.

A workflow is what ComfyUI's "Save (API)" exports: {"<node id>": {"class_type": ..., "inputs": {...}}}.
`bindings.json` maps each named parameter (prompt, seed, width, reference_image, ...) to a node id,
its expected class_type and one input name. Everything is checked when the library loads, so a
workflow re-exported with renumbered nodes fails here, naming the binding, not on the GPU box.
Values are set by node id + input name on a deep copy; the JSON text is never string-edited.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparklio_common.errors import PermanentServiceError

BINDINGS_FILE = "bindings.json"


def bundled_workflows_dir() -> Path:
    return Path(__file__).resolve().parent / "workflows" / "comfyui"


class WorkflowBindingError(PermanentServiceError):
    """A workflow file or its binding table does not match: fix the files, retrying cannot help."""

    def __init__(self, message: str):
        super().__init__("comfyui", message)


@dataclass(frozen=True)
class Binding:
    node: str
    class_type: str
    input: str


@dataclass(frozen=True)
class BoundWorkflow:
    name: str
    path: Path
    graph: dict[str, Any]
    output: Binding  # input is "" for the output node
    params: dict[str, Binding]

    def fill(self, values: dict[str, Any]) -> dict[str, Any]:
        """A fresh copy of the graph with each named value set on its bound node input."""
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise WorkflowBindingError(
                f"workflow {self.name!r} has no binding for {unknown}; bound: {sorted(self.params)}"
            )
        graph = copy.deepcopy(self.graph)
        for name, value in values.items():
            binding = self.params[name]
            graph[binding.node]["inputs"][binding.input] = value
        return graph


def _check_graph(name: str, path: Path, graph: Any) -> None:
    if not isinstance(graph, dict) or not graph:
        raise WorkflowBindingError(f"{path.name}: expected a non-empty JSON object of nodes")
    if "nodes" in graph and "links" in graph:
        raise WorkflowBindingError(
            f"{path.name}: this is the UI workflow format; export it with ComfyUI's 'Save (API)'"
        )
    for node_id, node in graph.items():
        if not isinstance(node, dict) or not isinstance(node.get("class_type"), str):
            raise WorkflowBindingError(f"{path.name}: node {node_id!r} has no class_type")
        if not isinstance(node.get("inputs"), dict):
            raise WorkflowBindingError(f"{path.name}: node {node_id} ({node['class_type']}) has no inputs object")
        for input_name, value in node["inputs"].items():
            # A link is [source node id, output slot]; a dangling one would only fail on the server.
            if isinstance(value, list):
                if len(value) != 2 or not isinstance(value[1], int):
                    raise WorkflowBindingError(
                        f"{path.name}: node {node_id} input {input_name!r} is not a [node_id, slot] link: {value!r}"
                    )
                if str(value[0]) not in graph:
                    raise WorkflowBindingError(
                        f"{path.name}: node {node_id} input {input_name!r} links to missing node {value[0]!r}"
                    )


def _binding(name: str, path: Path, graph: dict, param: str, spec: Any, need_input: bool) -> Binding:
    if not isinstance(spec, dict) or "node" not in spec or "class_type" not in spec:
        raise WorkflowBindingError(f"bindings for {name!r}: {param!r} needs node and class_type, got {spec!r}")
    node_id, class_type, input_name = str(spec["node"]), str(spec["class_type"]), str(spec.get("input", ""))
    where = f"workflow {name!r} ({path.name}) binding {param!r}"
    if node_id not in graph:
        raise WorkflowBindingError(f"{where}: node {node_id} does not exist (nodes: {sorted(graph, key=_node_order)})")
    actual = graph[node_id]["class_type"]
    if actual != class_type:
        raise WorkflowBindingError(f"{where}: node {node_id} is {actual}, expected {class_type}")
    if need_input and input_name not in graph[node_id]["inputs"]:
        raise WorkflowBindingError(
            f"{where}: node {node_id} ({class_type}) has no input {input_name!r} "
            f"(inputs: {sorted(graph[node_id]['inputs'])})"
        )
    if need_input and isinstance(graph[node_id]["inputs"][input_name], list):
        raise WorkflowBindingError(f"{where}: input {input_name!r} of node {node_id} is a link, not a value")
    return Binding(node_id, class_type, input_name)


def _node_order(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 30, node_id)


def load_workflows(directory: str | Path | None = None) -> dict[str, BoundWorkflow]:
    """Every workflow named in `bindings.json`, validated. Raises WorkflowBindingError on any mismatch."""
    root = Path(directory) if directory else bundled_workflows_dir()
    table_path = root / BINDINGS_FILE
    try:
        table = json.loads(table_path.read_text())
    except FileNotFoundError:
        raise WorkflowBindingError(f"no {BINDINGS_FILE} in {root}") from None
    except json.JSONDecodeError as exc:
        raise WorkflowBindingError(f"{table_path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    library: dict[str, BoundWorkflow] = {}
    for name, entry in table.items():
        if name.startswith("_"):
            continue  # comments
        if not isinstance(entry, dict) or "workflow" not in entry or "output" not in entry:
            raise WorkflowBindingError(f"bindings for {name!r} need 'workflow', 'output' and 'params'")
        path = root / entry["workflow"]
        try:
            graph = json.loads(path.read_text())
        except FileNotFoundError:
            raise WorkflowBindingError(f"workflow {name!r}: file {path} not found") from None
        except json.JSONDecodeError as exc:
            raise WorkflowBindingError(f"{path.name}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        _check_graph(name, path, graph)
        output = _binding(name, path, graph, "output", entry["output"], need_input=False)
        params = {
            param: _binding(name, path, graph, param, spec, need_input=True)
            for param, spec in (entry.get("params") or {}).items()
        }
        library[name] = BoundWorkflow(name=name, path=path, graph=graph, output=output, params=params)
    return library
