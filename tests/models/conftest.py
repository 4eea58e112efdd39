"""Model tests run single-threaded: small tensors gain nothing from threads, and on a busy machine
intra-op thread barriers make tiny training runs tens of times slower."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
