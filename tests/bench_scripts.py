"""The bench/ scripts as modules, for the tests of their pure parts."""
import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_module(name: str):
    """bench/<name>.py (name may hold a folder: "gpu/gpu_variants"), executed as a module.

    The script's own folder is put on sys.path first, as running it would."""
    return script_module(BENCH / f"{name}.py", "bench_" + name.replace("/", "_"))


def script_module(path: Path, module_name: str):
    """The script at path, executed as the module module_name, with its folder on sys.path."""
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
