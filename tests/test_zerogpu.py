"""ZeroGPU: the run's GPU entry point works across a process boundary (pickled records, trajectory
built in the app process, Stop by ending the generator)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from pixelart.config import MetricsConfig, RunConfig
from ui.runner import RunRequest, gpu_duration, run_records
from workbench.loop import RunLoop, record_run
from workbench.trajectory import Trajectory
from zerogpu_harness import remote_records

pytestmark = pytest.mark.slow  # a spawned process imports torch and builds the tiny models


@pytest.fixture(scope="module")
def request_():
    img = np.full((96, 64, 3), 200, np.uint8)
    img[20:70, 16:48] = (150, 30, 40)
    config = RunConfig(model="tiny", prompt="a red coat", size=(16, 16), colors=5, steps=30, seed=4,
                       metrics=MetricsConfig(semantic_every=4))
    return RunRequest("pixelart", (Image.fromarray(img),), config, config.steps, {"photo_name": "coat.png"})


def test_the_request_and_every_record_pickle(request_):
    assert pickle.loads(pickle.dumps(request_)).config == request_.config
    gen = run_records(request_)
    for _, item in zip(range(4), gen):
        pickle.dumps(item)  # RunStart and StepRecords: frames and numbers only
    gen.close()
    assert gpu_duration(request_) == 60 + int(30 * 0.6)


def test_a_run_in_a_worker_process_records_the_same_trajectory_and_stops_on_request(request_, tmp_path):
    local = record_run(run_records(request_)).trajectory
    info: dict = {}
    loop = RunLoop(remote_records(request_, info), should_stop=lambda: len(loop.trajectory) >= 8,
                   out=tmp_path / "remote.bundle")
    result = loop.run()
    assert result.stopped and len(result.trajectory) == 8  # Stop after step 7: nothing more is recorded
    info["process"].join(timeout=30)
    assert not info["process"].is_alive()  # the worker's run ended when the app stopped reading
    saved = Trajectory.load(tmp_path / "remote.bundle")
    for step in (0, 3, 7):
        np.testing.assert_array_equal(saved.frame(step), local.frame(step))
    np.testing.assert_allclose(saved.series("norm"), local.series("norm")[:8])
    assert saved.config["photo_name"] == "coat.png" and saved.kind == "pixelart"
    # similarities arrive in batches of 4: the batch of steps 4..7 was complete when Stop came
    assert np.isfinite(saved.series("clip")).all()


# -- the Stylize tab's other network work: clustering a word and building a study --------------------
def test_clustering_a_word_in_a_worker_process_gives_the_local_result(tmp_path):
    from test_study import make_collection
    from ui.words_tab import cluster_on_gpu
    from zerogpu_harness import remote_call

    root = make_collection(tmp_path / "collection")
    local = cluster_on_gpu(root, "fluffy", 3, "tiny", None, 0.5)
    remote = remote_call(cluster_on_gpu, root, "fluffy", 3, "tiny", None, 0.5)
    assert remote.paths == local.paths and remote.content_weight == 0.5
    np.testing.assert_array_equal(remote.clustering.labels, local.clustering.labels)
    assert list(remote.clustering.representatives) == list(local.clustering.representatives)
    np.testing.assert_allclose(remote.vectors, local.vectors, atol=1e-6)


def test_building_a_study_in_a_worker_process_writes_the_local_study(tmp_path):
    from stylize.nst.config import NSTConfig
    from test_study import make_collection, texture
    from ui.study_tab import _study_seconds, build_study_on_gpu
    from zerogpu_harness import remote_call

    root = make_collection(tmp_path / "collection")
    content = tmp_path / "content.png"
    texture("checks", 3, size=48).save(content)
    job = dict(collection=root, word="fluffy", contents=[content], config=NSTConfig(model="tiny", iterations=3,
               max_side=48, device="cpu"), k=2, content_names=["content.png"], content_weight=0.0)
    local = build_study_on_gpu({**job, "out": tmp_path / "local"})
    remote = remote_call(build_study_on_gpu, {**job, "out": tmp_path / "remote"})
    assert remote.folder == tmp_path / "remote" and len(remote.questions) == 1
    for a, b in zip(local.questions[0].options, remote.questions[0].options, strict=True):
        assert a.cluster == b.cluster
        same = [np.asarray(Image.open(study.folder / o.image)) for study, o in ((local, a), (remote, b))]
        np.testing.assert_array_equal(*same)  # the worker's style transfer is the app's, pixel for pixel
    assert 60 < _study_seconds(job) <= 3600
