"""GPU assignment to xdist workers (pure arithmetic; GPUs themselves are not needed)."""

from clue.engines.devices import visible_gpus, worker_gpus


def test_devices_are_split_round_robin_over_workers():
    devices = ["0", "1", "2", "3"]
    assert worker_gpus(devices, 2, 0) == ["0", "2"]
    assert worker_gpus(devices, 2, 1) == ["1", "3"]
    assert worker_gpus(devices, 4, 3) == ["3"]
    assert sorted(d for i in range(3) for d in worker_gpus(devices, 3, i)) == devices


def test_fewer_devices_than_workers_are_shared_and_none_means_none():
    assert [worker_gpus(["0", "1"], 3, i) for i in range(3)] == [["0"], ["1"], ["0"]]
    assert worker_gpus([], 2, 0) == []


def test_visible_devices_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []
