from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel
from typer.testing import CliRunner

from pipeline.config import Config
from pipeline.tools import docs

ROOT = Path(__file__).resolve().parents[3]
README = ROOT / "README.md"


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted key, FieldInfo) of every field of every section (nested ones such as
    vertex.training too), and of the top level."""
    keys = []
    for name, field in model.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            keys += config_keys(field.annotation, f"{prefix}{name}.")
        else:
            keys.append((prefix + name, field))
    return keys


def reference_rows() -> dict[str, str]:
    """The reference's table rows, by the key in their first cell."""
    rows = [line for line in docs.config_reference_markdown().splitlines() if line.startswith("| `")]
    return {row.split("`")[1]: row for row in rows}


def test_reference_covers_every_field_of_every_section() -> None:
    rows = reference_rows()
    assert len(config_keys()) > 50  # every section of config.py, not a few
    for key, field in config_keys():
        assert key in rows, f"{key} missing from the configuration reference"
        assert field.description and field.description.replace("|", "\\|") in rows[key]
        assert f"`{docs.default_text(field)}`" in rows[key]
    assert set(rows) == {key for key, _ in config_keys()}


def test_reference_has_one_table_per_section() -> None:
    reference = docs.config_reference_markdown()
    for name, field in Config.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            assert f"### `{name}`" in reference


def test_reference_rows_have_four_cells() -> None:
    for row in reference_rows().values():
        assert row.replace("\\|", "").count("|") == 5, row


def test_reference_explains_file_env_and_set_overrides() -> None:
    reference = docs.config_reference_markdown()
    for example in ("--set train.epochs=3", "CHURN__TRAIN__EPOCHS=3", "CHURN_CONFIG=configs/vertex.yaml"):
        assert example in reference


def test_reference_shows_defaults_and_limits() -> None:
    rows = reference_rows()
    assert "`10`" in rows["train.epochs"] and ">= 1" in rows["train.epochs"]
    assert "`[64, 32]`" in rows["train.hidden_units"]
    assert "`null`" in rows["vertex.project"] and "str or null" in rows["vertex.project"]
    assert "one of `max_f1`, `youden`, `fixed`" in rows["evaluate.threshold_strategy"]


@pytest.mark.parametrize(("annotation", "name"), [
    (str | None, "str or null"), (list[int], "list[int]"), (dict[str, float], "dict[str, float]"),
    (Path, "path"), (Literal["a", "b"], "one of `a`, `b`"), (bool, "bool"),
])
def test_type_names(annotation: Any, name: str) -> None:
    assert docs.type_name(annotation) == name


def test_readme_holds_the_current_reference() -> None:
    text = README.read_text(encoding="utf-8")
    assert docs.has_config_reference_markers(text), (
        f"README.md lost its {docs.CONFIG_REFERENCE_START} / {docs.CONFIG_REFERENCE_END} markers")
    assert docs.marked_section(text) == docs.config_reference_markdown(), (
        "README.md's configuration reference is stale: run `churn docs config-reference --write README.md`")


# ---- marked sections --------------------------------------------------------------------

MARKED = f"# Title\n\nBefore.\n\n{docs.CONFIG_REFERENCE_START}\nold text\n{docs.CONFIG_REFERENCE_END}\n\nAfter.\n"


def test_replace_marked_section_keeps_the_rest() -> None:
    updated = docs.replace_marked_section(MARKED, "new text\n")
    assert updated.startswith("# Title\n\nBefore.\n\n") and updated.endswith("\n\nAfter.\n")
    assert docs.marked_section(updated) == "new text\n"
    assert docs.replace_marked_section(updated, "new text\n") == updated


def test_missing_markers_are_a_clear_error() -> None:
    assert not docs.has_config_reference_markers("# Title\n")
    with pytest.raises(docs.DocsError, match="config-reference:start"):
        docs.replace_marked_section("# Title\n", "body", "README.md")


# ---- runnable blocks --------------------------------------------------------------------

SAMPLE_MARKDOWN = """\
# Try it

```bash runnable
make setup
churn doctor
```

Not this one (no runnable flag):

```bash
make cleanup
```

```python runnable
print("not shell")
```

````bash runnable
cat <<'EOF'
```
EOF
````

  ~~~bash runnable
  churn data --rows 100 --out /tmp/x.csv
  ~~~

```bash runnable
echo unclosed
"""


def test_runnable_blocks_are_the_bash_runnable_ones() -> None:
    assert docs.readme_runnable_blocks(SAMPLE_MARKDOWN) == [
        "make setup\nchurn doctor",
        "cat <<'EOF'\n```\nEOF",
        "churn data --rows 100 --out /tmp/x.csv",
        "echo unclosed",
    ]


def test_no_runnable_blocks() -> None:
    assert docs.readme_runnable_blocks("# Nothing\n\n```\nplain\n```\n") == []


# ---- command line -----------------------------------------------------------------------

def invoke(*args: str) -> Any:
    from pipeline.cli.app import app

    return CliRunner().invoke(app, list(args))


def test_cli_prints_the_reference() -> None:
    result = invoke("docs", "config-reference")
    assert result.exit_code == 0 and result.stdout == docs.config_reference_markdown()


def test_cli_check_then_write_then_check(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(MARKED, encoding="utf-8")
    stale = invoke("docs", "config-reference", "--check", str(readme))
    assert stale.exit_code == 1 and "out of date" in stale.stderr and len(stale.stderr.strip().splitlines()) == 1
    assert invoke("docs", "config-reference", "--write", str(readme)).exit_code == 0
    assert docs.marked_section(readme.read_text(encoding="utf-8")) == docs.config_reference_markdown()
    assert readme.read_text(encoding="utf-8").endswith("\n\nAfter.\n")
    assert invoke("docs", "config-reference", "--check", str(readme)).exit_code == 0


def test_cli_write_without_markers_is_a_docs_error(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# No markers\n", encoding="utf-8")
    result = invoke("docs", "config-reference", "--write", str(readme))
    assert isinstance(result.exception, docs.DocsError)
    assert readme.read_text(encoding="utf-8") == "# No markers\n"


def test_cli_help_has_an_example() -> None:
    result = invoke("docs", "config-reference", "--help")
    assert result.exit_code == 0 and "Example" in result.output
