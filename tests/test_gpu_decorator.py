"""The run's GPU entry point carries ``spaces.GPU`` where the ``spaces`` package exists (Spaces)."""

import importlib
import sys
import types


def test_run_records_is_wrapped_by_spaces_gpu_when_the_package_exists(monkeypatch):
    calls = []

    def fake_gpu(duration=None):
        def wrap(fn):
            calls.append((fn.__name__, duration))
            fn.wrapped_by_spaces = True
            return fn
        return wrap

    monkeypatch.setitem(sys.modules, "spaces", types.SimpleNamespace(GPU=fake_gpu))
    import ui.gpu
    import ui.runner

    # restored as they were afterwards (not reloaded again): a reload would make new classes, and a
    # RunRequest made with the original class would no longer pickle (the ZeroGPU tests pickle them)
    saved = {module: dict(module.__dict__) for module in (ui.gpu, ui.runner)}
    try:
        importlib.reload(ui.gpu)
        runner = importlib.reload(ui.runner)
        assert calls and calls[0][0] == "run_records" and getattr(runner.run_records, "wrapped_by_spaces", False)
        assert callable(calls[0][1])  # ZeroGPU's budget grows with the number of steps
    finally:
        monkeypatch.delitem(sys.modules, "spaces")
        for module, namespace in saved.items():
            module.__dict__.clear()
            module.__dict__.update(namespace)
    assert not hasattr(ui.runner.run_records, "wrapped_by_spaces")  # without the package: untouched
