"""Documentation generated from the code, so README.md cannot drift from it.

- `config_reference_markdown()`: the configuration reference, one table per section of the
  pydantic models in pipeline/config.py. README.md holds it between CONFIG_REFERENCE_START
  and CONFIG_REFERENCE_END; `churn docs config-reference --write README.md` refreshes it and
  a unit test fails when it is stale.
- `readme_runnable_blocks(text)`: the ```bash runnable blocks of a markdown file, which the
  tests run to prove the README's commands work as written.
"""

from __future__ import annotations

import inspect
import json
import re
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from pipeline.config import Config
from pipeline.errors import PipelineError

CONFIG_REFERENCE_START = "<!-- config-reference:start -->"
CONFIG_REFERENCE_END = "<!-- config-reference:end -->"
RUNNABLE_LANGUAGE = "bash"
RUNNABLE_FLAG = "runnable"

_HEADER = """\
_Generated from `pipeline/config.py` by `churn docs config-reference --write README.md`;
`make test` fails when this section is out of date._

Settings are read from a YAML file, then from environment variables, then from `--set`
options; a later source wins. Unknown keys are errors that name the key.

- **File**: `--config configs/vertex.yaml`, or `CHURN_CONFIG=configs/vertex.yaml` in the
  environment; without either, `configs/local.yaml`. Sections left out keep the defaults below.
- **Environment**: `CHURN__TRAIN__EPOCHS=3`: `CHURN__`, the section, `__`, the key, in capitals.
- **Command line**: `--set train.epochs=3` on any command (repeatable). Values are read as
  YAML, so `--set train.hidden_units=[128,64]` and `--set vertex.kms_key_name=null` work.
"""

_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


class DocsError(PipelineError):
    """A documentation file cannot be checked or updated (e.g. its markers are missing)."""


# ---- configuration reference ------------------------------------------------------------

def config_reference_markdown() -> str:
    """The configuration reference as markdown: override rules, then one table per section."""
    parts = [_HEADER]
    top_level = [(name, field) for name, field in Config.model_fields.items() if not _is_model(field)]
    if top_level:
        parts.append(_section_markdown("Top level", "Settings outside any section.", top_level, ""))
    for name, field in Config.model_fields.items():
        if _is_model(field):
            section: type[BaseModel] = field.annotation  # type: ignore[assignment]
            parts.append(_section_markdown(f"`{name}`", _summary(section),
                                           list(section.model_fields.items()), f"{name}."))
    return "\n".join(parts)


def _is_model(field: FieldInfo) -> bool:
    return inspect.isclass(field.annotation) and issubclass(field.annotation, BaseModel)


def _summary(model: type[BaseModel]) -> str:
    doc = inspect.cleandoc(model.__doc__ or "")
    return doc.split("\n\n")[0].replace("\n", " ")


def _section_markdown(title: str, summary: str, fields: list[tuple[str, FieldInfo]], prefix: str) -> str:
    rows = ["| Key | Type | Default | Description |", "| --- | --- | --- | --- |"]
    rows += [_field_row(prefix + name, field) for name, field in _flatten(fields)]
    return f"### {title}\n\n{summary}\n\n" + "\n".join(rows) + "\n"


def _flatten(fields: list[tuple[str, FieldInfo]]) -> list[tuple[str, FieldInfo]]:
    """Fields with nested models expanded into dotted keys (a.b.c)."""
    flat: list[tuple[str, FieldInfo]] = []
    for name, field in fields:
        if _is_model(field):
            nested = field.annotation.model_fields.items()  # type: ignore[union-attr]
            flat += [(f"{name}.{key}", sub) for key, sub in _flatten(list(nested))]
        else:
            flat.append((name, field))
    return flat


def _field_row(key: str, field: FieldInfo) -> str:
    type_text = type_name(field.annotation)
    constraints = _constraints(field)
    if constraints:
        type_text += f" ({constraints})"
    cells = [f"`{key}`", type_text, f"`{default_text(field)}`", field.description or ""]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def type_name(annotation: Any) -> str:
    """A reader's name for a field type: `str or null`, `list[int]`, `one of a, b`."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(f"`{value}`" for value in args)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in args)
    if origin in (list, dict, tuple, set):
        return f"{origin.__name__}[{', '.join(type_name(arg) for arg in args)}]"
    if annotation is type(None):
        return "null"
    if annotation is Path:
        return "path"
    return getattr(annotation, "__name__", str(annotation))


def _constraints(field: FieldInfo) -> str:
    parts: list[str] = []
    for item in field.metadata:
        parts += [f"{symbol} {getattr(item, attr)}" for attr, symbol in _BOUNDS
                  if getattr(item, attr, None) is not None]
        if getattr(item, "min_length", None) is not None:
            parts.append(f"at least {item.min_length}")
        if getattr(item, "pattern", None):
            parts.append(f"matches `{item.pattern}`")
    return ", ".join(parts)


def default_text(field: FieldInfo) -> str:
    """The default as it would be written in the YAML file."""
    value = field.get_default(call_default_factory=True)
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, str) and value:
        return value
    return json.dumps(value)


# ---- README sections between markers ----------------------------------------------------

def marked_section(text: str, source: str = "README.md") -> str:
    """The text between the config-reference markers, without surrounding blank lines."""
    start, end = _marker_span(text, source)
    return text[start:end].strip("\n") + "\n"


def replace_marked_section(text: str, body: str, source: str = "README.md") -> str:
    """`text` with the part between the config-reference markers replaced by `body`."""
    start, end = _marker_span(text, source)
    return text[:start] + "\n\n" + body.strip("\n") + "\n\n" + text[end:]


def _marker_span(text: str, source: str) -> tuple[int, int]:
    start = text.find(CONFIG_REFERENCE_START)
    end = text.find(CONFIG_REFERENCE_END, max(start, 0))
    if start < 0 or end < 0:
        raise DocsError(f"{source}: no {CONFIG_REFERENCE_START} ... {CONFIG_REFERENCE_END} markers: "
                        "add both lines where the configuration reference belongs")
    return start + len(CONFIG_REFERENCE_START), end


def config_reference_is_current(text: str, source: str = "README.md") -> bool:
    """Whether the marked section of `text` equals config_reference_markdown()."""
    return marked_section(text, source) == config_reference_markdown().strip("\n") + "\n"


def has_config_reference_markers(text: str) -> bool:
    """Whether `text` holds both config-reference markers, in order."""
    try:
        _marker_span(text, "")
    except DocsError:
        return False
    return True


# ---- runnable shell blocks --------------------------------------------------------------

def readme_runnable_blocks(text: str) -> list[str]:
    """The bodies of the fenced code blocks whose info string is `bash runnable`.

    Fences follow CommonMark: ``` or ~~~ (three or more), indented at most three spaces,
    closed by the same character at least as long; an unclosed block runs to the end.
    """
    blocks: list[str] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None or ("`" in opening["info"] and opening["fence"][0] == "`"):
            index += 1
            continue
        body, index = _fenced_body(lines, index + 1, opening)
        if _is_runnable(opening["info"]):
            blocks.append(body)
    return blocks


def _fenced_body(lines: list[str], index: int, opening: re.Match[str]) -> tuple[str, int]:
    """The block's text (fence indentation removed) and the index after its closing fence."""
    fence, indent = opening["fence"], len(opening["indent"])
    body: list[str] = []
    while index < len(lines):
        closing = _FENCE.match(lines[index])
        if (closing and closing["fence"][0] == fence[0] and len(closing["fence"]) >= len(fence)
                and not closing["info"].strip()):
            return "\n".join(body), index + 1
        line = lines[index]
        body.append(line[min(indent, len(line) - len(line.lstrip(" "))):])
        index += 1
    return "\n".join(body), index


def _is_runnable(info: str) -> bool:
    words = info.split()
    return len(words) >= 2 and words[0] == RUNNABLE_LANGUAGE and RUNNABLE_FLAG in words[1:]
