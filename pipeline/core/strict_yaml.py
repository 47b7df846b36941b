"""A YAML loader for configuration that refuses what a config never needs and an attacker
would use: anchors and aliases (a few hundred bytes expand to gigabytes), explicit tags,
deep nesting and duplicate keys. Errors are one line naming the line and column."""

from __future__ import annotations

from typing import Any

import yaml

from pipeline.errors import clip, quote

MAX_YAML_DEPTH = 20  # the config is 3 levels deep; lists and dicts of labels add one or two
KEY_ECHO = 60  # characters of a key named in a message


class StrictYamlLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses, while composing (before anything is expanded or built),
    anchors and aliases (nested aliases expand a 349-byte file into hundreds of megabytes),
    explicit tags such as !!python/object/apply, and nesting deeper than MAX_YAML_DEPTH."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()
        problem = _refused_event(event) or (
            f"nested deeper than {MAX_YAML_DEPTH} levels" if self.depth >= MAX_YAML_DEPTH else None)
        if problem:
            raise yaml.composer.ComposerError(None, None, problem, event.start_mark)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        # PyYAML keeps the last of two equal keys; in a config that is a mistake to name.
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {quote(key, KEY_ECHO)}", key_node.start_mark)
            if isinstance(key, (str, int, float, bool)):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _refused_event(event: yaml.Event) -> str | None:
    if isinstance(event, yaml.AliasEvent):
        return "YAML aliases (*name) are not allowed in configuration"
    if getattr(event, "anchor", None) is not None:
        return "YAML anchors (&name) are not allowed in configuration"
    tag = getattr(event, "tag", None)
    if tag is not None:
        return f"YAML tags ({clip(str(tag), KEY_ECHO)}) are not allowed in configuration"
    return None


def parse_yaml(text: str) -> Any:
    """`text` parsed by StrictYamlLoader; yaml.YAMLError when it is refused or invalid."""
    return yaml.load(text, Loader=StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass


def yaml_problem(exc: yaml.YAMLError) -> str:
    """One line saying where and why YAML was refused (PyYAML's own text spans lines)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        what = exc.problem or exc.context or exc.__class__.__name__
        return clip(" ".join(f"{where}{what}".split()))
    return clip(" ".join(str(exc).split()) or exc.__class__.__name__)
