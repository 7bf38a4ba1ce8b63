"""Inputs shared by the metric tests and benchmarks: hostile model outputs and a tiny local BERT.

The tiny BERT is built offline: a WordPiece tokenizer trained with the ``tokenizers`` library on a
few clinical sentences and a randomly initialised two-layer ``BertModel`` (hidden size 32), both
saved to a folder that bert-score loads like any local model folder.
"""

from __future__ import annotations

import random
from pathlib import Path

TINY_LAYERS = 2

TRAINING_TEXT = [
    "The patient was admitted with chest pain and shortness of breath.",
    "What is the right dose of metformin for type 2 diabetes?",
    "Hypertension; chronic kidney disease; atrial fibrillation on warfarin.",
    "Discharged home in stable condition with follow-up in two weeks.",
    "Acute kidney injury resolved after fluids. Sepsis from pneumonia treated with antibiotics.",
]

# Model outputs a metric must survive (the reference side stays a normal text).
_RANDOM = random.Random(20240404)
HOSTILE_OUTPUTS = {
    "empty": "",
    "whitespace": " \n\t  \r\n",
    "enormous": ("chest pain and fever " * 5000)[:100_000],
    "enormous_one_token": "x" * 100_000,
    "binary": bytes(_RANDOM.getrandbits(8) for _ in range(4096)).decode("utf-8", errors="replace"),
    "control": "".join(chr(c) for c in range(32)) + "\x7f\u200b\ufeff\ufffd",
    "chinese": "患者因胸痛入院，诊断为急性心肌梗死。",
    "arabic": "تم إدخال المريض بسبب ألم في الصدر",
    "emoji": "🤒💊🏥❤️‍🩹" * 50,
    "mixed_scripts": "Patient 患者 مريض with I10 и E11.9 😀",
}


def build_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """Save a random two-layer BERT and its WordPiece tokenizer to ``folder``; return the folder."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    backend.train_from_iterator(TRAINING_TEXT, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls, sep = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=128,
    )
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=TINY_LAYERS,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
