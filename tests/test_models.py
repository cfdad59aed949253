from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agentdistill.models import PRESETS, build_model, count_parameters, load_model
from agentdistill.tokenizer import load_tokenizer, save_tokenizer, train_byte_level_bpe

TEXTS = [
    "> go to countertop 1\nYou arrive at countertop 1. On the countertop 1, you see a mug 1.\n"
] * 30


def test_presets_compression_ratios() -> None:
    sizes = {name: count_parameters(build_model(name, vocab_size=1024)) for name in PRESETS}
    assert sizes["teacher"] / sizes["student-10x"] >= 10
    assert 25 <= sizes["teacher"] / sizes["student-30x"] <= 35


def test_build_is_seeded_and_round_trips(tmp_path: Path) -> None:
    a = build_model("student-30x", vocab_size=300, seed=3)
    b = build_model("student-30x", vocab_size=300, seed=3)
    assert all(
        torch.equal(x, y)
        for x, y in zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    )
    a.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    ids = torch.tensor([[1, 5, 7, 9]])
    with torch.no_grad():
        assert torch.allclose(a(ids).logits, loaded(ids).logits)
    again = load_model(tmp_path)
    assert type(again).__name__ == "LlamaForCausalLM"


def test_bad_model_inputs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model preset 'huge'"):
        build_model("huge", vocab_size=10)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(tmp_path / "missing")


def test_tokenizer_is_deterministic_lossless_and_standard(tmp_path: Path) -> None:
    first = train_byte_level_bpe(TEXTS, vocab_size=300, min_frequency=1)
    second = train_byte_level_bpe(TEXTS, vocab_size=300, min_frequency=1)
    assert first.get_vocab() == second.get_vocab()
    save_tokenizer(first, tmp_path)
    standard = AutoTokenizer.from_pretrained(tmp_path)  # loads as a plain HF fast tokenizer
    ours = load_tokenizer(tmp_path)
    text = "> take mug 1 from countertop 1\nYou pick up the mug 1 from the countertop 1. ünï\n"
    ids = standard(text)["input_ids"]
    assert ours(text)["input_ids"] == ids
    assert standard.decode(ids) == text
    assert standard.pad_token == "<|pad|>" and standard.eos_token == "<|eos|>"
    assert len(first(TEXTS[0])["input_ids"]) < len(TEXTS[0]) / 3  # it learned merges
