"""Checking a model by its Hugging Face Hub id, against a Hub-shaped server on localhost: no network needed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import numpy as np
import pytest

from checkpoints import INDEX_NAME, write_safetensors, zeros
from cli_process import run_cli
from documents import matching
from hub_server import TOKEN, HubServer, hub_server
from producers import compressed_tensors_config, model_config
from quantparams.checkpoint import inspect_checkpoint
from quantparams.checkpoint.header import read_header

REPO = "acme/llama-tiny-fp8-kv"
LAYERS = 4
# A weight of 2**31 F8 values per shard: sparse on disk, never to be read.
BIG = (1 << 16, 1 << 15)


def _write_repo(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    contents: list[dict[str, Any]] = [{}, {}]
    # The weights first, then the scales, as safetensors groups tensors by dtype.
    for layer in range(LAYERS):
        contents[layer * 2 // LAYERS][f"model.layers.{layer}.mlp.down_proj.weight"] = zeros("F8_E4M3", BIG)
    for layer in range(LAYERS):
        shard = contents[layer * 2 // LAYERS]
        for kind, value in (("k", 0.0625), ("v", 0.03125)):
            shard[f"model.layers.{layer}.self_attn.{kind}_scale"] = np.asarray(
                value * (layer + 1), np.float32
            )
    for name, tensors in zip(shards, contents):
        write_safetensors(folder / name, tensors)
    weight_map = {tensor: name for name, tensors in zip(shards, contents) for tensor in tensors}
    (folder / INDEX_NAME).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    config = {**model_config(LAYERS, compressed_tensors_config()), "architectures": ["LlamaForCausalLM"]}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    _write_repo(tmp_path / "hub" / REPO)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    with hub_server(tmp_path / "hub") as server:
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", server.url)
        yield server


def _scale_and_weight_spans(file: Path) -> tuple[set[tuple[int, int]], list[tuple[int, int]]]:
    header = read_header(file, file.name)
    scales, weights = set(), []
    for name, info in header.tensors.items():
        span = (info.begin, info.end - 1)
        (scales.add(span) if name.endswith("_scale") else weights.append(span))
    return scales, weights


def test_a_model_by_its_id_reads_headers_and_scales_only(hub: HubServer) -> None:
    local = inspect_checkpoint(hub.root / REPO, engines=("vllm", "sglang"))
    inspection = inspect_checkpoint(REPO, engines=("vllm", "sglang"))
    assert inspection.path == REPO
    assert (inspection.problems, inspection.report, inspection.engines) == (
        local.problems,
        local.report,
        local.engines,
    )
    assert inspection.ok
    read = inspection.read
    assert read is not None
    shards = matching(hub.root.joinpath(REPO), "*.safetensors")
    assert read.checkpoint_bytes == sum(shard.stat().st_size for shard in shards) > 4 << 30
    # Every byte served is a header's or a scale's: the length, the header, then runs of scales.
    for shard in shards:
        served = [(first, last) for name, first, last in hub.served if name == shard.name]
        scales, weights = _scale_and_weight_spans(shard)
        with open(shard, "rb") as file:
            header_end = 8 + int.from_bytes(file.read(8), "little") - 1
        assert served[:2] == [(0, 7), (8, header_end)]
        covered = {(first, last) for first, last in served[2:]}
        # The scales of one shard are adjacent (F32 after the F8 weights): one request.
        assert covered == {(min(scales)[0], max(scales)[1])}
        for first, last in served:
            assert all(last < begin or first > end for begin, end in weights)
    assert read.bytes_read < 10_000
    assert read.bytes_read == sum(last - first + 1 for _, first, last in hub.served) + sum(
        (hub.root / REPO / name).stat().st_size for name in ("config.json", INDEX_NAME)
    )
    # Model info, config.json, the index, then per shard: its length (through the redirect to the
    # CDN, two requests), its header and its scales, both from the CDN at once.
    assert read.requests == 3 + 4 * len(shards)
    document = inspection.to_json()
    assert list(document)[-1] == "read"
    assert document["read"] == {
        "source": "hub",
        "requests": read.requests,
        "bytes_read": read.bytes_read,
        "checkpoint_bytes": read.checkpoint_bytes,
    }
    assert "read" not in local.to_json()


def test_a_revision(hub: HubServer) -> None:
    assert inspect_checkpoint(f"{REPO}@main").ok
    commit = hub.commit(REPO)
    assert inspect_checkpoint(f"{REPO}@{commit}").ok
    [problem] = inspect_checkpoint(f"{REPO}@v9").problems
    assert problem.message == "no such revision 'v9' on the Hub"


def test_a_model_that_does_not_exist(hub: HubServer) -> None:
    inspection = inspect_checkpoint("acme/nothing-here")
    assert inspection.report is None
    assert [problem.message for problem in inspection.problems] == [
        "no such folder here, and no such model on the Hub "
        "(or it is private: log in with `hf auth login` or set HF_TOKEN)"
    ]


def test_a_gated_model(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    hub.gated.add(REPO)
    [problem] = inspect_checkpoint(REPO).problems
    assert problem.message == (
        "the model is gated: accept its terms on the model's page, then log in with `hf auth login` or set HF_TOKEN"
    )
    monkeypatch.setenv("HF_TOKEN", "hf_someone_else")
    [problem] = inspect_checkpoint(REPO).problems
    assert (
        problem.message
        == "the model is gated, and this token has no access: accept its terms on the model's page"
    )
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert inspect_checkpoint(REPO).ok


def test_a_connection_dropped_mid_header(hub: HubServer) -> None:
    hub.drop_header_after = 5
    inspection = inspect_checkpoint(REPO)
    assert inspection.report is None
    [problem] = inspection.problems
    assert problem.path == REPO
    assert "connection" in problem.message or "cannot reach the Hub" in problem.message


def test_a_server_that_ignores_range_is_never_streamed(hub: HubServer) -> None:
    hub.ignore_range = True
    inspection = inspect_checkpoint(REPO)
    [problem] = inspection.problems
    assert problem.message == (
        "the server answered a range request for model-00001-of-00002.safetensors with HTTP 200, "
        "the whole file: stopped rather than download it"
    )


def test_no_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with hub_server(tmp_path) as server:
        url = server.url
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", url)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    [problem] = inspect_checkpoint(REPO).problems
    assert problem.message.startswith(f"cannot reach the Hub at {url}: ")


def _populate_cache(cache: Path, source: Path, commit: str) -> None:
    entry = cache / f"models--{REPO.replace('/', '--')}"
    snapshot = entry / "snapshots" / commit
    (entry / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for number, file in enumerate(matching(source)):
        blob = entry / "blobs" / f"{number:064x}"
        os.link(file, blob)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / file.name)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit)


def test_the_local_cache_comes_first_and_works_offline(
    hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    [problem] = inspect_checkpoint(REPO).problems
    assert problem.message.startswith("not in the local Hugging Face cache (")
    assert problem.message.endswith("and HF_HUB_OFFLINE=1 keeps quantparams off the Hub")
    _populate_cache(tmp_path / "cache", hub.root / REPO, hub.commit(REPO))
    inspection = inspect_checkpoint(REPO)
    assert inspection.ok
    assert inspection.read is not None
    assert (inspection.read.source, inspection.read.requests) == ("cache", 0)
    assert hub.requests == 0


def test_without_huggingface_hub(hub: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)
    [problem] = inspect_checkpoint(REPO).problems
    assert problem.message == (
        "reading a model from the Hugging Face Hub needs huggingface_hub: pip install 'quantparams[hub]'"
    )


def test_the_command_line_by_id(hub: HubServer, tmp_path: Path) -> None:
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "home")}
    result = run_cli("validate", REPO, env=env)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith(f'ok  {REPO}: checkpoint, model_type "llama"')
    assert "; read " in result.stdout
    assert " GB checkpoint in 11 requests" in result.stdout
    result = run_cli("inspect", "--json", REPO, env=env)
    assert result.returncode == 0
    assert json.loads(result.stdout)["read"]["requests"] == 11
    result = run_cli("validate", "acme/missing", env=env)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith(
        "acme/missing: cannot read: no such folder here, and no such model on the Hub"
    )


def test_local_checks_never_import_huggingface_hub(tmp_path: Path) -> None:
    folder = _write_repo(tmp_path / "model")
    code = (
        "import sys, quantparams\n"
        f"assert quantparams.inspect_checkpoint({str(folder)!r}).ok\n"
        "assert 'huggingface_hub' not in sys.modules, 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_extract_by_id(hub: HubServer, tmp_path: Path) -> None:
    from quantparams import extract

    extraction = extract(REPO, tp_size=2)
    assert extraction.schema.kv_cache.scaling_factor[1][3] == 0.0625 * 4
    env = {"HF_ENDPOINT": hub.url, "HF_HUB_CACHE": str(tmp_path / "cache"), "HF_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, "-m", "quantparams", "extract", REPO],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("wrote kv_cache_scales.json: model_type llama")
    assert (tmp_path / "kv_cache_scales.json").is_file()
    with pytest.raises(OSError, match="no such model on the Hub"):
        extract("acme/missing")
