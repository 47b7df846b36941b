"""Pure helpers of the Vertex backend: labels, refs, aliases, traffic splits, gcloud lines."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pipeline.backends.vertex import gcloud
from pipeline.backends.vertex.endpoints import traffic_split_for
from pipeline.backends.vertex.model_monitoring import feature_thresholds, instance_schema
from pipeline.backends.vertex.naming import (
    label_key,
    label_value,
    managed_labels,
    parse_model_ref,
    valid_aliases,
)
from pipeline.config import Config, VertexConfig
from pipeline.errors import CloudError, ModelRefError
from pipeline.training import schema

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(("text", "expected"), [
    ("Data Science", "data-science"), ("2025-01-01T12:00:00Z", "2025-01-01t12-00-00z"),
    ("run_ok-1", "run_ok-1"), ("x" * 80, "x" * 63), ("--a--", "a")])
def test_label_value_is_gcloud_safe(text: str, expected: str) -> None:
    assert label_value(text) == expected


def test_label_key_starts_with_a_letter() -> None:
    assert label_key("42") == "k-42"
    assert label_key("Team") == "team"


def test_managed_labels_merge_registry_labels_and_extras() -> None:
    config = Config.model_validate({"registry": {"labels": {"Owner": "ML Team"}}})
    assert managed_labels(config, {"run_id": "R1"}) == {
        "owner": "ml-team", "managed-by": "churn-pipeline", "churn-model": "churn",
        "run_id": "r1"}


def test_parse_model_ref(tmp_path: Path) -> None:
    config = Config()
    assert (parse_model_ref("churn@champion", config).kind,
            parse_model_ref("churn@3", config).kind) == ("alias", "version")
    assert parse_model_ref("churn", config).selector == "default"
    run = tmp_path / "20250101-run"
    run.mkdir()
    ref = parse_model_ref(str(run), config)
    assert (ref.kind, ref.selector, ref.name) == ("run", "20250101-run", "churn")
    with pytest.raises(ModelRefError, match="NAME@ALIAS"):
        parse_model_ref("churn@", config)


def test_aliases_follow_vertex_rules() -> None:
    assert valid_aliases(["champion", "champion", "canary-2"]) == ["champion", "canary-2"]
    for bad in ("Champion", "1st", "a_b", "x-"):
        with pytest.raises(CloudError, match=f"alias '{bad}'"):
            valid_aliases([bad])


@given(current=st.dictionaries(st.text("0123456789", min_size=3, max_size=6),
                               st.integers(1, 100), min_size=1, max_size=5),
       canary=st.integers(1, 99))
def test_canary_split_sums_to_100_and_keeps_proportions(current: dict[str, int],
                                                        canary: int) -> None:
    split = traffic_split_for(current, canary)
    assert sum(split.values()) == 100
    assert split["0"] == canary
    total = sum(current.values())
    for key, share in current.items():
        assert abs(split[key] - share * (100 - canary) / total) < 1


def test_full_rollout_split() -> None:
    assert traffic_split_for({"111": 100}, None) == {"0": 100}
    assert traffic_split_for({}, 10) == {"0": 100}


def test_gcloud_command_quotes_and_skips_unset_flags() -> None:
    line = gcloud.command("gcloud ai endpoints deploy-model", "<ID>", region="us-central1",
                          traffic_split={"0": 10, "123": 90}, service_account=None,
                          version_aliases=["a", "b"], quiet=True, display_name="churn v1")
    assert line == ("gcloud ai endpoints deploy-model '<ID>' --region=us-central1 "
                    "--traffic-split=0=10,123=90 --version-aliases=a,b --quiet "
                    "--display-name='churn v1'")


def test_feature_thresholds_cover_every_feature() -> None:
    config = Config.model_validate({"monitor": {"default_threshold": 0.25,
                                                "thresholds": {"Contract": 0.1, "score": 0.5}}})
    thresholds = feature_thresholds(config)
    assert list(thresholds) == list(schema.FEATURES)
    assert thresholds["Contract"] == 0.1 and thresholds["tenure"] == 0.25
    assert "score" not in thresholds


def test_instance_schema_types() -> None:
    properties = instance_schema()["properties"]
    assert properties["SeniorCitizen"] == {"type": "integer"}
    assert properties["MonthlyCharges"] == {"type": "number"}
    assert properties["PaymentMethod"] == {"type": "string"}


def test_vertex_yaml_documents_every_vertex_field() -> None:
    text = (ROOT / "configs" / "vertex.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    assert raw["backend"] == "vertex"
    assert set(raw["vertex"]) == set(VertexConfig.model_fields)
    for field in VertexConfig.model_fields:
        line = next(line for line in text.splitlines() if line.strip().startswith(f"{field}:"))
        assert "#" in line, f"vertex.{field} has no comment"
