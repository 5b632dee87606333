#!/usr/bin/env python3
"""Reference side of `docent bench embed`: sentence-transformers (PyTorch, CPU) on the same texts.

Prints one JSON line:
  {"sentences_per_s": .., "seconds": .., "cpu_seconds": .., "threads": N,
   "vectors_sample": [[8 dims] x 3]}

Runs offline from the model folder (no hub access): pass the all-MiniLM-L6-v2 folder, either the
packaged sentence-transformers folder (with modules.json) or Docent's models folder (weights,
tokenizer.json and config.json only), which is assembled here as the same pipeline:
BERT (max 256 tokens) -> mean pooling -> L2 normalisation.

Needs the throw-away virtualenv made by scripts/bench-venv:
  $(scripts/bench-venv) scripts/bench-embed-st.py --texts texts.json --threads 2 \
      --model ~/.local/share/docent/models/all-MiniLM-L6-v2
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def read_texts(path):
    """A JSON array of strings, or one text per line."""
    with open(path, encoding="utf-8") as f:
        content = f.read()
    if content.lstrip().startswith("["):
        return json.loads(content)
    return [line for line in content.splitlines() if line.strip()]


def load_model(model_dir):
    from sentence_transformers import SentenceTransformer, models

    if os.path.exists(os.path.join(model_dir, "modules.json")):
        model = SentenceTransformer(model_dir, device="cpu")
    else:
        transformer = models.Transformer(model_dir, max_seq_length=256)
        pooling = models.Pooling(transformer.get_word_embedding_dimension(), pooling_mode="mean")
        model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
    model.max_seq_length = 256
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", required=True, help="JSON array of strings, or one text per line")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--model", required=True, help="the all-MiniLM-L6-v2 folder")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    texts = read_texts(args.texts)
    model = load_model(args.model)

    def encode(batch):
        return model.encode(
            batch,
            batch_size=args.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    encode(texts[: args.batch_size])  # warm-up
    start, cpu_start = time.perf_counter(), time.process_time()
    vectors = encode(texts)
    seconds = time.perf_counter() - start
    # CPU time of the whole process (all threads): unlike wall time, it does not count what
    # other programs on a shared machine take.
    cpu_seconds = time.process_time() - cpu_start
    result = {
        "sentences_per_s": len(texts) / seconds,
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "threads": args.threads,
        "vectors_sample": [[round(float(x), 6) for x in v[:8]] for v in vectors[:3]],
    }
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
