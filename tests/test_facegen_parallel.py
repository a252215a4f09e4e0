"""facegen data-parallel training: two CPU processes (Gloo) average their gradients, rank 0 alone writes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from facegen import checkpoint as ck
from facegen.parallel import Parallel, from_env
from facegen_support import one_thread, write_images  # noqa: F401  (one_thread: an autouse fixture)
from workbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

WORKER = r'''
import hashlib, json, sys
import torch
torch.set_num_threads(1)
from facegen.config import tiny_config
from facegen.parallel import from_env, teardown
from facegen.run import TrainRun

faces, bodies, out, dump, iterations, resume = sys.argv[1:7]
config = tiny_config().replace(train={"iterations": int(iterations), "device": "cpu"})
run = TrainRun(faces, bodies, config, out_dir=out, resume=resume == "1", parallel=from_env())

def digest():
    h = hashlib.sha256()
    for name in ("gens", "dis", "dis_council"):
        for key, value in getattr(run.trainer, name).state_dict().items():
            h.update(key.encode() + value.detach().contiguous().numpy().tobytes())
    return h.hexdigest()

initial = digest()
first = run.batches(run.start)[0].faces
losses = [s.metrics["gen_total"] for s in run if getattr(s, "step", 0) > run.start]
json.dump({"rank": run.parallel.rank, "world": run.parallel.world_size, "initial": initial, "final": digest(),
           "first_batch": first.flatten().tolist(), "losses": losses}, open(dump, "w"))
teardown()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def _launch(tmp_path: Path, out: Path, iterations: int, resume: bool, tag: str) -> list[dict]:
    """Two worker processes with the environment torchrun / accelerate launch give them."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    port = _free_port()
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "OMP_NUM_THREADS": "1",
               "PYTHONPATH": str(ROOT)}
        procs.append(subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / "faces"), str(tmp_path / "bodies"), str(out),
             str(tmp_path / f"{tag}_{rank}.json"), str(iterations), "1" if resume else "0"],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    for p in procs:
        output, _ = p.communicate(timeout=180)
        assert p.returncode == 0, output[-3000:]
    return [json.loads((tmp_path / f"{tag}_{rank}.json").read_text()) for rank in range(2)]



def test_launcher_environment() -> None:
    assert from_env({}) == Parallel(0, 1, 0) and not from_env({}).active
    p = from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert p.active and not p.is_main and p.world_size == 2
    with pytest.raises(ConfigError, match="bad launcher environment"):
        from_env({"RANK": "2", "WORLD_SIZE": "2"})
    with pytest.raises(ConfigError, match="whole numbers"):
        from_env({"WORLD_SIZE": "two"})
    # alone, averaging is the identity and the mean is the value
    net = torch.nn.Linear(2, 1)
    net(torch.ones(1, 2)).sum().backward()
    before = net.weight.grad.clone()
    Parallel().average_gradients(net)
    assert torch.equal(net.weight.grad, before) and Parallel().mean(torch.tensor(2.5)) == 2.5


@pytest.mark.slow
def test_two_processes_share_weights_and_resume_exactly(tmp_path: Path) -> None:
    write_images(tmp_path / "faces", 6, 0, (40, 36))
    write_images(tmp_path / "bodies", 5, 1, (32, 48))
    straight = _launch(tmp_path, tmp_path / "straight", 3, False, "straight")
    a, b = straight
    assert (a["rank"], b["rank"], a["world"]) == (0, 1, 2)
    assert a["initial"] == b["initial"]
    assert a["final"] == b["final"] != a["initial"]  # trained, and both ranks hold the same weights
    assert a["first_batch"] != b["first_batch"]  # on different data: the gradients were averaged
    assert a["losses"] == b["losses"] and len(a["losses"]) == 3  # losses averaged over the processes
    # one checkpoint set (rank 0's), the curves beside it, nothing half-written
    assert [it for it, _ in ck.list_checkpoints(tmp_path / "straight")] == [3, 2]
    rows = (tmp_path / "straight" / "curves.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["iteration", "1", "2", "3"]
    assert not list((tmp_path / "straight").glob("**/.*"))
    # stop at 2, resume to 3 on two processes: the same weights as the uninterrupted run
    _launch(tmp_path, tmp_path / "part", 2, False, "part")
    resumed = _launch(tmp_path, tmp_path / "part", 3, True, "resumed")
    assert resumed[0]["final"] == resumed[1]["final"] == a["final"]
    assert resumed[0]["losses"] == a["losses"][2:]
    rows = (tmp_path / "part" / "curves.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["iteration", "1", "2", "3"]


@pytest.mark.slow
def test_accelerate_launch_cli(tmp_path: Path) -> None:
    """The documented command: ``accelerate launch --multi_gpu --num_processes 2 -m facegen train``
    (``--multi_gpu`` starts the processes even without a GPU; they pick Gloo on the CPU)."""
    pytest.importorskip("accelerate")
    faces = write_images(tmp_path / "faces", 4, 0, (40, 36))
    bodies = write_images(tmp_path / "bodies", 4, 1, (32, 48))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(_free_port()), "-m", "facegen", "train", str(faces), str(bodies),
           "--config", "tiny", "--out", str(out), "--iterations", "2", "--device", "cpu", "--no-progress"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert [it for it, _ in ck.list_checkpoints(out)] == [2]
    assert (out / "config.json").is_file() and (out / "curves.html").is_file()
