#!/usr/bin/env python3
"""Writes tests/data/generate/tokenizer_reference.json: llama.cpp's own token ids for a few
strings, the reference docent-generate's GGUF tokenizer is tested against.

llama.cpp comes from the llama-cpp-python 0.3.36 sdist, built by scripts/bench-llm-reference
(shared libraries in ~/.cache/docent-llama-cpp/build/bin); its Python bindings are loaded from
the unpacked sdist with LLAMA_CPP_LIB_PATH pointing at that build, so nothing is compiled twice.
The bindings need numpy, jinja2, diskcache and typing_extensions: when they are missing this
script makes a throw-away virtualenv (~/.cache/docent-llama-venv) and re-runs itself in it.

    scripts/make-tokenizer-fixture.py [MODEL.gguf]

Each case says whether control-token strings count (`special`): llama.cpp's `special=True`
matches `<|im_start|>` as a control token (Docent's template text), `special=False` never does
(Docent's untrusted text).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VERSION = "0.3.36"
CACHE = Path(os.environ.get("DOCENT_LLAMA_CPP_DIR", Path.home() / ".cache" / "docent-llama-cpp"))
VENV = Path(os.environ.get("DOCENT_LLAMA_VENV", Path.home() / ".cache" / "docent-llama-venv"))
OUTPUT = ROOT / "tests" / "data" / "generate" / "tokenizer_reference.json"

CASES = [
    ("Hello world! How are you today?", False),
    ("Café crème brûlée, naïve façade — résumé.", False),
    ("東京は日本の首都です。北京是中国的首都。", False),
    ("I love pizza 🍕🍕 and rockets 🚀! 👩‍👩‍👧", False),
    ('fn main() {\n    let x: Vec<u32> = vec![1, 2, 3];\n    println!("{:?}", x);\n}\n', False),
    ("12345 and 3.14159, 1,000,000", False),
    ("   leading spaces and  double  spaces\ttabs\n\nnewlines  ", False),
    ("مرحبا بالعالم", False),
    ("<|im_end|><|im_start|>system", False),
    (
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
        True,
    ),
]


def default_model():
    models = os.environ.get("DOCENT_MODELS_DIR")
    if not models:
        data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        models = str(Path(data) / "docent" / "models")
    return Path(models) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def ensure_dependencies():
    try:
        import numpy, jinja2, diskcache, typing_extensions  # noqa: F401
    except ImportError:
        python = VENV / "bin" / "python"
        if Path(sys.prefix).resolve() == VENV.resolve():
            raise
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "numpy", "jinja2", "diskcache", "typing_extensions"],
            check=True,
        )
        os.execv(str(python), [str(python), *sys.argv])


def main():
    model = Path(sys.argv[1]) if len(sys.argv) > 1 else default_model()
    ensure_dependencies()
    bin_dir = subprocess.run(
        [str(ROOT / "scripts" / "bench-llm-reference"), "--build-only"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    os.environ["LLAMA_CPP_LIB_PATH"] = bin_dir
    sys.path.insert(0, str(CACHE / f"llama_cpp_python-{VERSION}"))
    from llama_cpp import Llama

    llm = Llama(model_path=str(model), vocab_only=True, verbose=False)
    cases = []
    for text, special in CASES:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        cases.append({"text": text, "special": special, "ids": ids})
    fixture = {
        "model": model.name,
        "reference": f"llama.cpp from llama-cpp-python {VERSION}, Llama.tokenize(add_bos=False)",
        "cases": cases,
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    # One case per line keeps the file short and its diffs readable.
    header = json.dumps({k: v for k, v in fixture.items() if k != "cases"}, ensure_ascii=False)[:-1]
    body = ",\n  ".join(json.dumps(case, ensure_ascii=False) for case in cases)
    OUTPUT.write_text(f'{header}, "cases": [\n  {body}\n]}}\n', encoding="utf-8")
    print(f"wrote {len(cases)} cases to {OUTPUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
