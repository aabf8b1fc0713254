"""Shared fixtures: offline environment, one tiny model and one synthetic suite per test session."""

from __future__ import annotations

import os

import pytest

# Tests never touch the network: HF hub offline, W&B offline, no tokenizer thread pools.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def vtl_home(tmp_path_factory):
    """Embedded defaults (`vtl://tiny-qwen2.5-vl`, `vtl://synth`) are built once per session in a temp VTL_HOME."""
    home = tmp_path_factory.mktemp("vtl_home")
    old = os.environ.get("VTL_HOME")
    os.environ["VTL_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("VTL_HOME", None)
    else:
        os.environ["VTL_HOME"] = old


@pytest.fixture(scope="session")
def tiny_model_dir(vtl_home):
    from vtl.models.tiny import tiny_model_dir as build

    return build()


@pytest.fixture(scope="session")
def synth_dir(vtl_home):
    from vtl.data.synth import synth_suite_dir as build

    return build()


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules of many tiny-model calls: its matmuls are too small to gain from threads, and on a shared CPU
    spinning OpenMP threads make them ~10x slower. Restored after the module."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_collection_modifyitems(config, items):
    import torch

    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
