"""Read-side settings: the TimescaleDB policies they turn into, and the combinations refused."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from ledger_service.read.service import policies_from
from ledger_service.settings import Settings


def test_policies_follow_the_settings() -> None:
    policies = policies_from(Settings(late_window_days=35, aggregate_refresh_minutes=3, raw_retention_days=400))
    assert policies.refresh_window == timedelta(days=36)  # every accepted late event is refreshed
    assert policies.refresh_every == timedelta(minutes=3)
    assert policies.compress_after == timedelta(days=45)
    assert policies.drop_after == timedelta(days=400)
    assert policies_from(Settings(compress_after_days=0)).compress_after is None  # 0 = off
    assert policies_from(Settings()).drop_after is None  # raw rows are kept by default


@pytest.mark.parametrize("field", ["compress_after_days", "raw_retention_days"])
def test_policies_may_not_reach_into_the_late_window(field: str) -> None:
    with pytest.raises(ValidationError, match="greater than late_window_days"):
        Settings.model_validate({"late_window_days": 35, field: 36})
    assert getattr(Settings.model_validate({"late_window_days": 35, field: 37}), field) == 37
