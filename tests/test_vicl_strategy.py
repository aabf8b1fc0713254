"""Multi-GPU strategies for full student fine-tuning: the FSDP wrap policy by layer name, the gathered export."""

from __future__ import annotations

import pytest
import torch

from vtl.vicl.distill.strategy import DecoderFSDPStrategy, gather_full_state_dict, layer_name_policy


class Qwen3VLTextDecoderLayer(torch.nn.Linear):
    pass


def test_policy_wraps_layers_by_class_name():
    policy = layer_name_policy(["Qwen3VLTextDecoderLayer"])
    assert policy(module=Qwen3VLTextDecoderLayer(2, 2), recurse=False, nonwrapped_numel=0)
    assert not policy(module=torch.nn.Linear(2, 2), recurse=False, nonwrapped_numel=0)
    assert policy(module=torch.nn.Linear(2, 2), recurse=True, nonwrapped_numel=0)  # always descend


def test_strategy_checks_and_passes_its_options():
    strategy = DecoderFSDPStrategy(wrap_layers=["Qwen3VLTextDecoderLayer"], activation_checkpointing=False)
    assert strategy.sharding_strategy.name == "FULL_SHARD" and strategy._state_dict_type == "sharded"
    with pytest.raises(ValueError, match="wrap_layers"):
        DecoderFSDPStrategy(wrap_layers=[])


def test_unsharded_strategy_needs_no_gathering():
    from lightning.pytorch.strategies import SingleDeviceStrategy

    assert gather_full_state_dict(SingleDeviceStrategy(device="cpu")) is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (FSDP fit)")
def test_fsdp_fit_trains_language_and_merger_and_exports_full_weights(capsys, vtl_home):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from gpu_student_fsdp import main

    assert main(["--steps", "2"]) == 0
    out = capsys.readouterr().out
    assert "merger: changed tensors / tensors = 1.00" in out
    assert "vision blocks: changed tensors / tensors = 0.00" in out
    assert "exported tensors / base tensors = 1.00" in out
