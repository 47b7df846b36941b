from __future__ import annotations

import pytest

from pipeline.errors import ServingError
from pipeline.tools.simulate import drifted_customers, instances_of, parse_shifts, require_loopback


def test_shift_moves_the_chosen_features_only() -> None:
    plain = drifted_customers(3000, [], seed=3)
    shifted = drifted_customers(3000, ["contract", "fiber"], seed=3)
    share = lambda frame, column, value: (frame[column] == value).mean()  # noqa: E731
    assert share(shifted, "Contract", "Month-to-month") > share(plain, "Contract", "Month-to-month") + 0.25
    assert share(shifted, "InternetService", "Fiber optic") > share(plain, "InternetService", "Fiber optic") + 0.2
    assert abs(share(shifted, "gender", "Male") - share(plain, "gender", "Male")) < 0.05
    assert shifted["customerID"].is_unique and len(shifted) == 3000


def test_instances_are_json_ready() -> None:
    instance = instances_of(drifted_customers(5, ["tenure"], seed=1))[0]
    assert isinstance(instance["tenure"], int | float) and isinstance(instance["TotalCharges"], float)
    assert "Churn" not in instance and "customerID" in instance


def test_unknown_shift_is_named() -> None:
    with pytest.raises(ServingError, match="weather"):
        parse_shifts("contract,weather")
    assert parse_shifts("") == []


@pytest.mark.parametrize("url", ["http://10.0.0.5:8080", "http://example.com", "http://192.168.1.2"])
def test_only_loopback_targets(url: str) -> None:
    with pytest.raises(ServingError, match="loopback"):
        require_loopback(url)


def test_loopback_allowed() -> None:
    assert require_loopback("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert require_loopback("http://localhost:9000") == "http://localhost:9000"
