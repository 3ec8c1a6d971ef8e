"""A run folder, `saved_models/<run>/`, and its `run.json`.

`run.json` is rewritten atomically after every change, so a run killed at
any moment leaves the last complete state; `--resume` reads it back and
skips the stages already done.
"""

import contextlib
import datetime
import os
import platform
import shutil
import sys
import tempfile

from keras_snp.utils import UsageError
from keras_snp.utils import read_json
from keras_snp.utils import write_json


def package_versions():
    """Versions of the packages a run depends on (absent ones omitted)."""
    import importlib.metadata

    versions = {"python": platform.python_version()}
    for name in (
        "keras",
        "keras-snp",
        "tensorflow",
        "tensorflow-cpu",
        "tensorflow-datasets",
        "jax",
        "numpy",
        "torch",
    ):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


#: Open descriptors of the run folders this process writes, by path: the
#: OS lock lives as long as the descriptor stays open (the process's life).
_LOCKS = {}


def writer_text():
    """This process as `run.json` names the run's writer."""
    return f"PID {os.getpid()} ({' '.join(sys.argv) or 'python'})"


def lock_run(path):
    """Takes the writer lock of the run folder `path`, or refuses.

    The lock is `fcntl.flock` on the folder itself: the kernel releases it
    when the process ends, kill -9 included, so no stale lock survives,
    and the folder gains no file. Readers (TensorBoard, `load_model`)
    never need it. The holder is named in `run.json` (`writer`), so a
    second writer gets one line naming its PID and command.
    """
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock
        return
    path = os.path.abspath(path)
    if path in _LOCKS:
        return
    descriptor = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        holder = "another process"
        try:
            holder = read_json(os.path.join(path, "run.json"))["writer"]
        except (OSError, ValueError, KeyError, TypeError):
            pass
        raise UsageError(
            f"Run folder {path} is being written by {holder}: wait for it "
            "to end (or stop it), then run this again."
        ) from None
    _LOCKS[path] = descriptor
    recover_staging(path)
    run_json = os.path.join(path, "run.json")
    if os.path.isfile(run_json):
        try:
            state = read_json(run_json)
        except ValueError:
            return
        state["writer"] = writer_text()
        write_json(run_json, state)


def unlock_run(path):
    """Releases the lock `lock_run` took (closing its descriptor)."""
    descriptor = _LOCKS.pop(os.path.abspath(path), None)
    if descriptor is not None:
        os.close(descriptor)


#: The hidden folder of a run where a stage is built before it is swapped
#: in whole (`staged_outputs`).
STAGING = ".staging"

#: The run-folder entries each stage writes, built in the staging folder
#: and swapped in only when the stage completes: an interrupted (re)run
#: leaves the stage's previous outputs whole.
STAGED_OUTPUTS = {
    "export": ("model.keras", "saved_model"),
    "snp": ("snp",),
    "heads": ("heads",),
    "control": ("control",),
    "prune": ("pruned",),
    "pages": ("pages",),
}


@contextlib.contextmanager
def staged_outputs(ctx, stage):
    """Runs a stage of `ctx` (a `pipeline.Context`) with its outputs
    redirected (`ctx.out`) into `<run>/.staging/<stage>/`, then swaps them
    into the run folder. On any error (Ctrl-C included) the staging folder
    is removed and the run folder is as before; after a kill -9 the next
    writer removes it (`recover_staging`)."""
    entries = STAGED_OUTPUTS.get(stage)
    folder = ctx.folder
    if not entries or not folder.writer:
        yield
        return
    staging = os.path.join(folder.path, STAGING, stage)
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    ctx.output_root = staging
    try:
        yield
    except BaseException:
        _remove_staging(staging)
        raise
    finally:
        ctx.output_root = None
    swap_in(folder.path, staging, entries)


def swap_in(root, staging, entries):
    """Moves `entries` from `staging` into `root`, each replacing the one
    there; the replaced ones wait in `<staging>.old` until all are in."""
    old = staging + ".old"
    os.makedirs(old, exist_ok=True)
    for entry in entries:
        new, final = os.path.join(staging, entry), os.path.join(root, entry)
        if not os.path.lexists(new):
            continue
        if os.path.lexists(final):
            os.rename(final, os.path.join(old, entry))
        os.rename(new, final)
    shutil.rmtree(old, ignore_errors=True)
    _remove_staging(staging)


def _remove_staging(staging):
    shutil.rmtree(staging, ignore_errors=True)
    try:
        os.rmdir(os.path.dirname(staging))  # `.staging`, once empty
    except OSError:
        pass


def recover_staging(root):
    """After a writer was killed: puts back what a half-done swap had
    moved aside, and removes every staging folder. Needs the run's lock."""
    staging_root = os.path.join(root, STAGING)
    if not os.path.isdir(staging_root):
        return
    for name in os.listdir(staging_root):
        if not name.endswith(".old"):
            continue
        old = os.path.join(staging_root, name)
        for entry in os.listdir(old):
            final = os.path.join(root, entry)
            if not os.path.lexists(final):
                os.rename(os.path.join(old, entry), final)
    shutil.rmtree(staging_root, ignore_errors=True)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )


class RunFolder:
    """The files of one run. Only the chief worker writes the run folder.

    A non-chief worker of `MultiWorkerMirroredStrategy` runs the same code
    (every save is a collective step for it too), but into a scratch folder
    of its own that `close()` removes; it reads the chief's folder
    (`shared_path`) only to resume.

    Args:
        path: the folder this process writes (the run folder, or a
            worker's scratch folder).
        state: the `run.json` content.
        writer: False to write nothing at all (`create(writer=False)`
            makes a non-chief worker's scratch folder instead).
        shared_path: the real run folder (default: `path`).
        is_chief: False on a non-chief worker.
    """

    def __init__(
        self, path, state, writer=True, shared_path=None, is_chief=True
    ):
        self.path = os.fspath(path)
        self.state = state
        self.writer = writer
        self.shared_path = os.fspath(shared_path or path)
        self.is_chief = is_chief

    @classmethod
    def create(
        cls,
        output_dir,
        run_name,
        config,
        resume=False,
        writer=True,
        redo=(),
    ):
        """Opens a new run folder, or an existing one with `resume`.

        Refuses to write into an existing run without `resume` (the
        folder is made without `exist_ok`, so of two runs started at once
        with one name exactly one wins), and to resume a run made with
        other identity settings. `writer=False` (a non-chief worker) gives
        a scratch folder that reads the chief's `run.json` on resume.
        """
        path = os.path.join(output_dir, run_name)
        run_json = os.path.join(path, "run.json")
        if not writer:
            return cls._worker(path, run_name, config, resume)
        if resume:
            if not os.path.isfile(run_json):
                raise UsageError(
                    f"--resume: no run at {path} (no run.json): drop "
                    "--resume to start it, or check --run-name."
                )
            lock_run(path)
            state = read_json(run_json)
            _check_same_identity(state.get("config", {}), config, path)
            _check_no_drift(state, config, path, redo)
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
        state = _new_state(run_name, config)
        folder = cls(path, state, writer)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        try:
            os.makedirs(path)  # no exist_ok: the lock against a twin run
        except FileExistsError:
            raise UsageError(
                f"Run folder {path} already exists (another run took the "
                "name first): choose another --run-name."
            ) from None
        lock_run(path)
        state["writer"] = writer_text()
        folder.save()
        return folder

    @classmethod
    def _worker(cls, path, run_name, config, resume):
        """A non-chief worker's folder: scratch, removed by `close()`."""
        run_json = os.path.join(path, "run.json")
        state = _new_state(run_name, config)
        if resume and os.path.isfile(run_json):
            state = read_json(run_json)
            _check_same_identity(state.get("config", {}), config, path)
        scratch = tempfile.mkdtemp(prefix=f"keras_snp_worker_{run_name}_")
        folder = cls(
            scratch, state, writer=True, shared_path=path, is_chief=False
        )
        folder.save()
        return folder

    def read_path(self, *parts):
        """A path inside the real run folder, to read (resume)."""
        return os.path.join(self.shared_path, *parts)

    def close(self):
        """Removes a non-chief worker's scratch folder."""
        if not self.is_chief and self.path != self.shared_path:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = self.shared_path
            self.writer = False

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
        config = self.state.get("config", {})
        files = (
            file_manifest(self.path, STAGE_FILES.get(name, ()))
            if self.writer
            else {}
        )
        self.state["stages"][name] = {
            "status": "done",
            "finished_at": _now(),
            "settings": {
                k: config.get(k) for k in STAGE_SETTINGS.get(name, ())
            },
            "files": files,
            **(metrics or {}),
        }
        self.save()

    def verify_stage(self, name):
        """The first file a done stage wrote that no longer matches its
        recorded size and SHA-256 (or is gone), or None when all verify.
        Stages recorded before manifests existed are trusted."""
        return first_unverified(self.shared_path, self.state, name)

    def discard(self):
        """Removes a folder that holds nothing but its first run.json."""
        if (
            self.writer
            and not self.state["stages"]
            and not self.state["history"]
        ):
            shutil.rmtree(self.path, ignore_errors=True)
            unlock_run(self.path)


def _new_state(run_name, config):
    return {
        "run_name": run_name,
        "created_at": _now(),
        "config": config.to_dict(),
        "versions": package_versions(),
        "stages": {},
        "history": [],
    }


#: What each stage writes (files, or folders whose files all count).
STAGE_FILES = {
    "train": (),  # its model.keras is rewritten by export
    "export": ("model.keras", "saved_model"),
    "snp": ("snp/summary.json", "snp/snp.npz"),
    "heads": ("heads/heads.json", "heads/heads.md"),
    "control": (
        "control/snp/summary.json",
        "control/snp/snp.npz",
        "control/heads/heads.json",
    ),
    "prune": ("pruned/model.keras", "pruned/pruning.json"),
    "pages": ("pages/index.html", "pages/data/site.js"),
}


def first_unverified(root, state, stage):
    """The first file that stage `stage` of the run at `root` (`state`:
    its run.json) recorded and that no longer matches its size and
    SHA-256, or is gone; None when all verify (or none were recorded)."""
    recorded = state.get("stages", {}).get(stage, {}).get("files") or {}
    for rel, entry in recorded.items():
        path = os.path.join(root, rel)
        if not os.path.isfile(path) or os.path.getsize(path) != entry["size"]:
            return rel
        if _sha256(path) != entry["sha256"]:
            return rel
    return None


def stage_of(rel):
    """The stage whose recorded outputs hold the run-relative path `rel`
    (a file or folder), or None."""
    for stage, entries in STAGE_FILES.items():
        for entry in entries:
            if rel == entry or rel.startswith(entry.rstrip("/") + "/"):
                return stage
            if entry.startswith(rel.rstrip("/") + "/"):
                return stage
    return None


def _sha256(path):
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_manifest(root, rels):
    """`{relative path: {"size", "sha256"}}` of the files `rels` name
    under `root` (every file inside a folder); absent ones are left out."""
    manifest = {}
    for rel in rels:
        path = os.path.join(root, rel)
        if os.path.isfile(path):
            paths = [path]
        elif os.path.isdir(path):
            paths = sorted(
                os.path.join(folder, name)
                for folder, _, names in os.walk(path)
                for name in names
            )
        else:
            continue
        for file in paths:
            manifest[os.path.relpath(file, root)] = {
                "size": os.path.getsize(file),
                "sha256": _sha256(file),
            }
    return manifest


#: The settings each stage ran with: `--resume` refuses to change them for
#: a stage that has run (or, for train, has started) unless it is redone.
STAGE_SETTINGS = {
    "train": (
        "epochs",
        "learning_rate",
        "weight_decay",
        "warmup_epochs",
        "steps_per_epoch",
        "precision",
        "label_names",
    ),
    "snp": (
        "theta",
        "readout",
        "readout_solver",
        "readout_views",
        "readout_stream_views",
        "readout_tolerance",
        "readout_max_passes",
        "snp_epochs",
        "taps",
        "readout_seeds",
    ),
    "heads": ("theta", "null_samples", "ablation"),
    "prune": ("theta", "prune_scope", "fine_tune_epochs"),
}
# The untrained control measures SNP and heads as those stages do (with
# one readout seed whatever `readout_seeds` says).
STAGE_SETTINGS["control"] = tuple(
    key
    for key in dict.fromkeys(STAGE_SETTINGS["snp"] + STAGE_SETTINGS["heads"])
    if key != "readout_seeds"
)
#: Readout settings that only one solver reads: a run made with another
#: solver does not depend on them, so their drift (a new default, say) is
#: not a change of what its snp stage ran with.
SOLVER_SETTINGS = {
    "readout_views": "lbfgs",
    "readout_tolerance": "lbfgs",
    "readout_stream_views": "stream",
    "snp_epochs": "lab",
}


def _check_no_drift(state, config, path, redo=()):
    """Refuses a resume that changes a setting of a stage already run."""
    saved, current = state.get("config", {}), config.to_dict()
    stages = state.get("stages", {})
    for stage, keys in STAGE_SETTINGS.items():
        ran = stages.get(stage, {}).get("status") == "done" or (
            stage == "train" and bool(state.get("history"))
        )
        if not ran or stage in redo:
            continue
        solver = saved.get("readout_solver", "lbfgs")
        for key in keys:
            if SOLVER_SETTINGS.get(key, solver) != solver:
                continue
            if key in saved and saved[key] != current.get(key):
                raise UsageError(
                    f"--resume: the {stage} stage of {path} ran with "
                    f"{key}={saved[key]!r}, not {current.get(key)!r}: use "
                    f"the same value, --redo {stage} to run it again with "
                    "the new one, or a new --run-name."
                )


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
