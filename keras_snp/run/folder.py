"""A run folder, `saved_models/<run>/`, and its `run.json`.

`run.json` is rewritten atomically after every change, so a run killed at
any moment leaves the last complete state; `--resume` reads it back and
skips the stages already done.
"""

import datetime
import os
import platform
import shutil

from keras_snp.utils import UsageError
from keras_snp.utils import read_json
from keras_snp.utils import write_json


def package_versions():
    """Versions of the packages a run depends on (absent ones omitted)."""
    import importlib.metadata

    versions = {"python": platform.python_version()}
    for name in ("keras", "keras-snp", "tensorflow", "tensorflow-cpu",
                 "tensorflow-datasets", "jax", "numpy", "torch"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds")


class RunFolder:
    """The files of one run. Only the chief worker writes.

    Args:
        path: the run folder.
        state: the `run.json` content.
        writer: False on non-chief workers; their writes go nowhere.
    """

    def __init__(self, path, state, writer=True):
        self.path = os.fspath(path)
        self.state = state
        self.writer = writer

    @classmethod
    def create(cls, output_dir, run_name, config, resume=False, writer=True):
        """Opens a new run folder, or an existing one with `resume`.

        Refuses to write into an existing run without `resume`, and to
        resume a run made with other identity settings.
        """
        path = os.path.join(output_dir, run_name)
        run_json = os.path.join(path, "run.json")
        if resume:
            if not os.path.isfile(run_json):
                raise UsageError(
                    f"--resume: no run at {path} (no run.json): drop "
                    "--resume to start it, or check --run-name."
                )
            state = read_json(run_json)
            _check_same_identity(state.get("config", {}), config, path)
            state["config"] = config.to_dict()
            state.setdefault("resumed_at", []).append(_now())
            folder = cls(path, state, writer)
            folder.save()
            return folder
        if os.path.exists(path):
            raise UsageError(
                f"Run folder {path} already exists: pass --resume to "
                "continue it, or choose another --run-name."
            )
        state = {
            "run_name": run_name,
            "created_at": _now(),
            "config": config.to_dict(),
            "versions": package_versions(),
            "stages": {},
            "history": [],
        }
        folder = cls(path, state, writer)
        if writer:
            os.makedirs(path)
        folder.save()
        return folder

    def sub(self, *parts):
        """A path inside the run folder (its parent folders created)."""
        target = os.path.join(self.path, *parts)
        if self.writer:
            os.makedirs(os.path.dirname(target), exist_ok=True)
        return target

    def save(self):
        if self.writer:
            write_json(os.path.join(self.path, "run.json"), self.state)

    def update(self, **entries):
        self.state.update(entries)
        self.save()

    def stage_done(self, name):
        return self.state["stages"].get(name, {}).get("status") == "done"

    def finish_stage(self, name, metrics=None):
        self.state["stages"][name] = {
            "status": "done", "finished_at": _now(), **(metrics or {})
        }
        self.save()

    def discard(self):
        """Removes a folder that holds nothing but its first run.json."""
        if self.writer and not self.state["stages"] and \
                not self.state["history"]:
            shutil.rmtree(self.path, ignore_errors=True)


def _check_same_identity(saved, config, path):
    current = config.to_dict()
    different = [
        f"{key}={saved.get(key)!r} (now {current.get(key)!r})"
        for key in config.IDENTITY
        if key in saved and saved.get(key) != current.get(key)
    ]
    if different:
        raise UsageError(
            f"--resume: {path} was made with other settings "
            f"({'; '.join(different)}): use the same flags or a new "
            "--run-name."
        )
